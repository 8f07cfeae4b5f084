"""The element handlers, one module per feedparser module (feedparser/namespaces/): _base.py
for RSS / Atom / RDF, then dc, itunes, mediarss, georss, cc. Each class is a mixin of the
emulator; which element key goes to which method is in ../handlers.py."""
