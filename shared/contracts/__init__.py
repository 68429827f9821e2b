"""Request and response models of the calls between services, shared by the caller and the callee.

One module per callee and topic: the callee's route takes and answers these models, and the caller's typed client
(`services/<caller>/clients.py`) sends and parses the same ones, so that the two sides cannot drift apart.
"""
