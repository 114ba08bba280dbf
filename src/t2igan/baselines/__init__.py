"""The baseline families: ``base.py`` is what every baseline gives its training loop, and each other
module is one family, named in t2igan.families and imported only by that family's stages."""
