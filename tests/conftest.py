from detect.tf_env import set_defaults

set_defaults()  # the tools' TensorFlow settings (oneDNN kernels), before any test imports it
