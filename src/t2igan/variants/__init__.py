"""The GAN families: ``base.py`` is what every family gives the training loop, and each other module
is one family, named in t2igan.families and imported only by that family's stages."""
