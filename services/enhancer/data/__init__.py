"""Training data for HiFi-GAN: dataset readers (readers.py) and on-the-fly degradation."""
