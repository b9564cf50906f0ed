"""ErbNet: SpeakUp's own enhancer — ERB-band gains plus deep filtering of the low band.

The DeepFilterNet family's split (Schröter et al. 2022/2023), sized for two CPU cores and made
non-causal, because SpeakUp processes whole files: a bidirectional GRU sees ≈ the whole block,
which dereverberation and noise-floor tracking need. Shares HiFi-GAN's data pipeline,
discriminators, losses module, train loop and checkpoint format.
"""
