"""Node: local processes shown as Pods (workloads, Pods, Deployments, ReplicaSets, port-forward, the helloworld "image").

Imports nothing itself: ``python -S -m kn_walk.sandbox.node.helloworld`` must stay import-free."""
