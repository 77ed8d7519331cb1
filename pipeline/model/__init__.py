"""LeNet-5 (lenet: its layers, loss, deterministic save) and a training run's resume state.

Imports pipeline.core and Keras/TensorFlow at load: import it only after the reproducibility
profile is applied (pipeline.command does that for the stages). Imported by the train, evaluate,
export and tune stages only.
"""
