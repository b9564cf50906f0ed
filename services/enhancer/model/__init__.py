"""HiFi-GAN networks: one part per file, every size from services.enhancer.model.config."""
