"""Job bodies of the features, one module each; importing a module registers its kinds
(``@job_kind`` from ``backend.kinds``). ``backend.kinds`` imports every module listed in
:data:`BODY_MODULES` before answering which kinds exist. Heavy imports go inside the bodies.
"""

BODY_MODULES: tuple[str, ...] = (
    "backend.bodies.segment",  # embed: precompute SAM embeddings of a dataset
    "backend.bodies.training",  # train, tune
    "backend.bodies.modelops",  # evaluate, prelabel, export, bench
)
