"""Point clouds: readers now; level-of-detail, features and densification to come
(numpy in, numpy out; no Django)."""
