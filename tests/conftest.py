from detect.tf_env import set_defaults

set_defaults()  # the tools' TensorFlow settings, before any test imports it
