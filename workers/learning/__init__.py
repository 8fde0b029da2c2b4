"""The project model of the learning loop: pixel features, classifier, queue, proposals.

Pure numpy in, numpy out (no Django, no Celery): ``features`` computes an ilastik-style
filter bank per frame, ``classifier`` trains a forest on labelled pixels, ``selection``
scores frames for the annotation queue and ``proposals`` turns the model's probability
map into masks refined by the classical engine.
"""
