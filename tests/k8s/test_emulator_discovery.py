"""Discovery documents, server version, CRD registration and kubectl's table output.

https://kubernetes.io/docs/concepts/overview/kubernetes-api/#discovery-api
"""

from __future__ import annotations

import httpx
from kubernetes import client, config

from tests.k8s.emulator import KubernetesEmulator
from tests.k8s.factories import GROUP, VERSION, WIDGETS, widget


def test_core_discovery_lists_resources_with_verbs(k8s_client: client.ApiClient) -> None:
    """``/api/v1`` lists resources with kind, scope, verbs and status subresources.

    https://kubernetes.io/docs/concepts/overview/kubernetes-api/#discovery-api
    """
    resources = {r.name: r for r in client.CoreV1Api(k8s_client).get_api_resources().resources}
    assert {"namespaces", "pods", "pods/status", "events"} <= set(resources)
    assert resources["pods"].namespaced and not resources["namespaces"].namespaced
    assert resources["pods"].kind == "Pod" and "watch" in resources["pods"].verbs


def test_group_discovery_lists_builtin_and_custom_groups(
    widgets: KubernetesEmulator, k8s_client: client.ApiClient
) -> None:
    """``/apis`` lists every group with its versions and preferred version.

    https://kubernetes.io/docs/reference/using-api/#api-groups
    """
    groups = {g.name: g for g in client.ApisApi(k8s_client).get_api_versions().groups}
    assert {"batch", "coordination.k8s.io", "apiextensions.k8s.io", GROUP} <= set(groups)
    assert groups[GROUP].preferred_version.group_version == f"{GROUP}/{VERSION}"
    batch = client.BatchV1Api(k8s_client).get_api_resources()
    assert {"jobs", "jobs/status"} <= {r.name for r in batch.resources}


def test_crd_resource_is_discoverable_with_subresources(
    widgets: KubernetesEmulator, http: httpx.Client
) -> None:
    """A loaded CRD appears in its group's resource list, with short names and /status.

    https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#create-a-customresourcedefinition
    """
    resources = {r["name"]: r for r in http.get(f"/apis/{GROUP}/{VERSION}").json()["resources"]}
    assert set(resources) == {"widgets", "widgets/status"}
    assert resources["widgets"]["kind"] == "Widget"
    assert resources["widgets"]["shortNames"] == ["wd"]
    assert resources["widgets"]["categories"] == ["examples"]


def test_crds_are_listed_and_established(
    widgets: KubernetesEmulator, k8s_client: client.ApiClient
) -> None:
    """The CRD is an object of apiextensions.k8s.io/v1 with an Established condition.

    https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#create-a-customresourcedefinition
    """
    [crd] = client.ApiextensionsV1Api(k8s_client).list_custom_resource_definition().items
    assert crd.metadata.name == f"widgets.{GROUP}"
    assert {c.type: c.status for c in crd.status.conditions}["Established"] == "True"


def test_crd_created_over_http_is_served_and_deleting_it_removes_objects(
    k8s_api: KubernetesEmulator, http: httpx.Client
) -> None:
    """Creating a CRD through the API starts serving it; deleting it removes its objects.

    https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#delete-a-customresourcedefinition
    """
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.test"},
        "spec": {
            "group": GROUP,
            "scope": "Cluster",
            "names": {"kind": "Gadget", "plural": "gadgets"},
            "versions": [{"name": "v1", "served": True, "storage": True}],
        },
    }
    assert (
        http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd).status_code
        == 201
    )
    gadget = {"apiVersion": f"{GROUP}/v1", "kind": "Gadget", "metadata": {"name": "g1"}}
    assert http.post(f"/apis/{GROUP}/v1/gadgets", json=gadget).status_code == 201
    assert http.delete(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.example.test"
    ).is_success
    assert http.get(f"/apis/{GROUP}/v1/gadgets").status_code == 404


def test_version_endpoint(k8s_client: client.ApiClient) -> None:
    """``/version`` reports the emulated Kubernetes version.

    https://kubernetes.io/docs/reference/using-api/health-checks/ (``/version`` is served
    alongside); see also https://kubernetes.io/releases/version-skew-policy/
    """
    info = client.VersionApi(k8s_client).get_code()
    assert (info.major, info.git_version.startswith("v1.")) == ("1", True)


def test_kubeconfig_works_with_the_official_loader(k8s_api: KubernetesEmulator) -> None:
    """The written kubeconfig loads with ``kubernetes.config.load_kube_config``.

    https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/
    """
    configuration = client.Configuration()
    assert k8s_api.kubeconfig_path is not None
    config.load_kube_config(str(k8s_api.kubeconfig_path), client_configuration=configuration)
    with client.ApiClient(configuration) as api_client:
        names = [ns.metadata.name for ns in client.CoreV1Api(api_client).list_namespace().items]
    assert "default" in names


def test_tables_use_printer_columns(widgets: KubernetesEmulator, http: httpx.Client) -> None:
    """``kubectl get`` asks for a Table; CRD printer columns become its columns.

    https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#additional-printer-columns
    """
    widgets.create(WIDGETS, "default", widget("w1", size=3))
    widgets.patch_status(WIDGETS, "default", "w1", {"phase": "Running"})
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    table = http.get(
        f"/apis/{GROUP}/{VERSION}/namespaces/default/widgets", headers={"Accept": accept}
    ).json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Phase", "Size", "Age"]
    assert table["rows"][0]["cells"][:3] == ["w1", "Running", 3]
