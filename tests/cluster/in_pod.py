"""The entry point of a "container" the node agent runs: ``bkjobs`` or a Python script,
with the in-cluster credentials where the node agent put them.

A pod's ServiceAccount token is mounted at ``/var/run/secrets/kubernetes.io/serviceaccount``
in a real container. The node agent cannot mount anything (no mount namespace), so it writes
``token``, ``ca.crt`` and ``namespace`` into a per-pod temporary directory and names it in
``TEST_NODE_SERVICEACCOUNT_DIR``. The ``kubernetes`` client reads the token and CA from two
module constants (``SERVICE_TOKEN_FILENAME``, ``SERVICE_CERT_FILENAME``) that no setting
changes, so this wrapper points them at that directory before the program starts.
Everything else (``KUBERNETES_SERVICE_HOST``/``PORT``, the pod's env) the product reads as
it would in a cluster, through ``bookkeeper_jobs.kube.load_kube_configuration``.

Usage (the node agent's command map does this): ``in_pod.py bkjobs <args>`` runs the
``bkjobs`` CLI; ``in_pod.py -c <script>`` runs a script, as ``python -c`` does.
"""

from __future__ import annotations

import os
import sys


def _point_the_client_at_the_token() -> None:
    directory = os.environ.get("TEST_NODE_SERVICEACCOUNT_DIR")
    if not directory:
        return  # automountServiceAccountToken: false; in-cluster config then fails, as it should
    from kubernetes.config import incluster_config

    incluster_config.SERVICE_TOKEN_FILENAME = os.path.join(directory, "token")
    incluster_config.SERVICE_CERT_FILENAME = os.path.join(directory, "ca.crt")


def main() -> int:
    _point_the_client_at_the_token()
    args = sys.argv[1:]
    if args[:1] == ["-c"]:
        sys.argv = ["-c", *args[2:]]
        exec(compile(args[1], "<pod>", "exec"), {"__name__": "__main__"})
        return 0
    if args[:1] != ["bkjobs"]:
        print(f"in_pod.py: expected 'bkjobs ...' or '-c script', got {args!r}", file=sys.stderr)
        return 127
    from bookkeeper_jobs.cli import main as bkjobs

    sys.argv = ["bkjobs", *args[1:]]
    return bkjobs(args[1:])


if __name__ == "__main__":
    sys.exit(main())
