"""Searches on several processes and machines, on Keras Tuner's chief/worker engine.

Keras Tuner serves a study's oracle from a chief process over gRPC
(`keras_tuner.src.distribute.oracle_chief`) and lets worker processes ask it
for trials (`oracle_client.OracleClient`). This package keeps that engine
and adds what version 1.4.8 lacks:

- `connection`: the chief's address and a shared secret, written into the
  run directory for its owner only; every call carries the secret.
- `chief`: the server, bound to one address (no `SO_REUSEPORT`, so a port in
  use is refused), with worker liveness (a silent worker's trial goes back
  to the queue), workers kept waiting rather than stopped while another
  worker's trial could still come back, and a restart that resumes.
- `client`: the worker's oracle client, which backs off while the oracle
  has nothing to hand out and keeps telling the chief it is alive.
- `cluster`: the options, checked before anything heavy loads: workers,
  address, timeout; memory and cores divided.
- `launch`: the chief's process, and the workers `--workers N` starts.
"""
