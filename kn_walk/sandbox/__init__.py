"""The sandbox: a local process speaking the Kubernetes API with Knative Serving semantics."""
