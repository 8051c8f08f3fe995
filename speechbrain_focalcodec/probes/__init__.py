"""Building blocks of the downstream probe recipes (recipes/*/*/focalcodec):
token datasets, the utterance-classification Brain (speaker identification,
emotion recognition) and the stages shared by token-generating Brains
(enhancement, separation, text-to-speech).

Authors
 * speechbrain-focalcodec developers 2026
"""
