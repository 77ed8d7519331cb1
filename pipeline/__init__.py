"""LeNet-5 on MNIST and Fashion-MNIST: the stages of dvc.yaml (`python -m pipeline <stage>`)."""
