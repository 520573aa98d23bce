"""Helm chart tests: lint, render offline, validate against Kubernetes schemas, check facts.

Rendering uses helm-python-sdk (Helm's Go SDK, embedded): `Chart.render` is `helm
template` without a cluster, `dependency_build` packages the umbrella's file://
dependencies, and `lint` is `helm lint --strict`. Every manifest is validated with
kubernetes-validate against the Kubernetes version below. No cluster, network or database.
"""

import base64
import copy
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

helm = pytest.importorskip(
    "helm_python",
    reason="the chart tests need helm-python-sdk (pip install -r requirements-dev.txt)",
)
kubernetes_validate = pytest.importorskip("kubernetes_validate")

CHARTS = Path(__file__).resolve().parent.parent
REPO = CHARTS.parent
APPS = CHARTS / "apps-charts"
UMBRELLA = CHARTS / "umbrella-chart"
PRODUCTION_VALUES = Path(__file__).resolve().parent / "values-production.yaml"

KUBE_VERSION = "1.30.0"
RELEASE = "jan"
NAMESPACE = "jan"
GATEWAY = f"{RELEASE}-jan-api-gateway"
INFERENCE = f"{RELEASE}-jan-inference-model"

# Distinctive values, so that a leak into any non-Secret manifest is found by search.
SECRETS = {
    "DJANGO_SECRET_KEY": "test-django-secret-key-9f8e7d6c5b4a392817065544",
    "JWT_SECRET": "test-jwt-secret-0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d",
    "APIKEY_SECRET": "test-apikey-secret-5e6f7a8b9c0d1e2f3a4b5c6d7e",
    "MODEL_PROVIDER_SECRET": "test-model-provider-secret-7c8d9e0f1a2b3c4d",
}
OPTIONAL_SECRETS = {"SMTP_PASSWORD": "test-smtp-password-4b5c6d7e8f9a"}
PG_PASSWORD = "test-pg-password-1d2e3f4a5b6c7d8e"
EXTERNAL_DATABASE_URL = "postgres://janserver:test-db-url-password-77aa@db:5432/jan"
EXTERNAL_REDIS_URL = "redis://:test-redis-url-password-88bb@redis:6379/0"
SERPER_KEY = "test-serper-api-key-3f4a5b6c7d8e"
SECRET_VALUES = [
    *SECRETS.values(),
    *OPTIONAL_SECRETS.values(),
    PG_PASSWORD,
    EXTERNAL_DATABASE_URL,
    EXTERNAL_REDIS_URL,
    SERPER_KEY,
]
SECRET_ENV = {
    *SECRETS,
    "SMTP_PASSWORD",
    "OAUTH2_GOOGLE_CLIENT_SECRET",
    "OIDC_PROVIDERS",
    "SERPER_API_KEY",
}

UMBRELLA_DEFAULT_VALUES = {
    "global": {"postgresql": {"auth": {"password": PG_PASSWORD}}},
    "jan-api-gateway": {"secrets": {**SECRETS, **OPTIONAL_SECRETS}},
}
# The production file names existing Secrets; one optional secret is still passed with
# --set, as an operator may.
PRODUCTION_SET_VALUES = {"jan-api-gateway": {"secrets": {"SERPER_API_KEY": SERPER_KEY}}}
GATEWAY_VALUES = {
    "secrets": dict(SECRETS),
    "externalDatabase": {"url": EXTERNAL_DATABASE_URL},
    "externalRedis": {"url": EXTERNAL_REDIS_URL},
}
STANDALONE_VALUES = {
    "jan-api-gateway": GATEWAY_VALUES,
    "jan-inference-model": {},
    "postgresql": {"auth": {"password": PG_PASSWORD}},
    "redis": {},
}

helm.disable_logging()


def merge(base: dict[str, Any], *overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge value dicts, later ones winning (like repeated -f / --set)."""
    result = copy.deepcopy(base)
    for override in overrides:
        for key, value in override.items():
            if isinstance(value, dict) and isinstance(result.get(key), dict):
                result[key] = merge(result[key], value)
            else:
                result[key] = copy.deepcopy(value)
    return result


class Manifests:
    """The documents of one render, found by kind and name."""

    def __init__(self, rendered: dict[str, str]) -> None:
        self.docs: list[dict[str, Any]] = []
        for path, text in rendered.items():
            if path.endswith("NOTES.txt"):
                continue
            self.docs.extend(doc for doc in yaml.safe_load_all(text) if doc)

    def kind(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = [doc for doc in self.kind(kind) if doc["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
        return found[0]

    def names(self, kind: str) -> set[str]:
        return {doc["metadata"]["name"] for doc in self.kind(kind)}

    def pod_specs(self) -> list[tuple[str, dict[str, Any]]]:
        specs = []
        for doc in self.docs:
            if doc["kind"] in {"Deployment", "StatefulSet", "Job"}:
                specs.append((doc["metadata"]["name"], doc["spec"]["template"]["spec"]))
        return specs


def render(chart: Path, values: dict[str, Any] | None) -> Manifests:
    return Manifests(
        helm.Chart.load(chart).render(values, name=RELEASE, namespace=NAMESPACE)
    )


def render_error(chart: Path, values: dict[str, Any]) -> str:
    with pytest.raises(helm.HelmRenderError) as error:
        helm.Chart.load(chart).render(values, name=RELEASE, namespace=NAMESPACE)
    return str(error.value)


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def container(pod_spec: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [c for c in pod_spec["containers"] if c["name"] == name]
    return found


def env_example_names() -> list[str]:
    names = []
    for line in (REPO / ".env.example").read_text().splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=", line.strip())
        if match:
            names.append(match.group(1))
    return names


@pytest.fixture(scope="module")
def umbrella(tmp_path_factory) -> Path:
    """The umbrella chart with its file:// dependencies built, as `helm dependency build`.

    Built in a copy (the dependencies resolve relative to the chart, so the layout is
    kept), leaving the work tree untouched. Fails when Chart.lock is out of sync.
    """
    root = tmp_path_factory.mktemp("charts")
    shutil.copytree(APPS, root / "apps-charts")
    shutil.copytree(
        UMBRELLA, root / "umbrella-chart", ignore=shutil.ignore_patterns("charts")
    )
    helm.dependency_build(root / "umbrella-chart")
    return root / "umbrella-chart"


@pytest.fixture(scope="module")
def production_values() -> dict[str, Any]:
    return merge(yaml.safe_load(PRODUCTION_VALUES.read_text()), PRODUCTION_SET_VALUES)


@pytest.fixture(scope="module")
def default_render(umbrella) -> Manifests:
    return render(umbrella, UMBRELLA_DEFAULT_VALUES)


@pytest.fixture(scope="module")
def production_render(umbrella, production_values) -> Manifests:
    return render(umbrella, production_values)


@pytest.fixture(scope="module")
def standalone_renders() -> dict[str, Manifests]:
    return {
        name: render(APPS / name, values) for name, values in STANDALONE_VALUES.items()
    }


@pytest.fixture(scope="module")
def all_renders(default_render, production_render, standalone_renders):
    return {
        "umbrella-default": default_render,
        "umbrella-production": production_render,
        **{f"standalone-{name}": m for name, m in standalone_renders.items()},
    }


# --- lint and schema validation ---------------------------------------------------------


@pytest.mark.parametrize("chart", sorted(STANDALONE_VALUES))
def test_subchart_lints_clean(chart):
    report = helm.lint(
        APPS / chart,
        STANDALONE_VALUES[chart],
        strict=True,
        kube_version=f"v{KUBE_VERSION}",
    )
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("which", ["default", "production"])
def test_umbrella_lints_clean(umbrella, production_values, which):
    values = UMBRELLA_DEFAULT_VALUES if which == "default" else production_values
    report = helm.lint(umbrella, values, strict=True, kube_version=f"v{KUBE_VERSION}")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_chart_lock_matches_chart_yaml():
    chart = yaml.safe_load((UMBRELLA / "Chart.yaml").read_text())
    lock = yaml.safe_load((UMBRELLA / "Chart.lock").read_text())
    wanted = [(d["name"], d["version"], d["repository"]) for d in chart["dependencies"]]
    locked = [(d["name"], d["version"], d["repository"]) for d in lock["dependencies"]]
    assert locked == wanted
    for name, version, repository in wanted:
        # Only local charts: rendering never needs a chart repository.
        assert repository.startswith("file://../apps-charts/")
        sub = yaml.safe_load(
            (UMBRELLA / repository.removeprefix("file://") / "Chart.yaml").read_text()
        )
        assert (sub["name"], sub["version"]) == (name, version)


def test_every_manifest_validates_against_kubernetes_schema(all_renders):
    checked = 0
    for render_name, manifests in all_renders.items():
        assert manifests.docs, render_name
        for doc in manifests.docs:
            try:
                kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:  # pragma: no cover
                pytest.fail(
                    f"{render_name}: {doc['kind']}/{doc['metadata']['name']}: "
                    f"{'.'.join(map(str, error.path))}: {error.message}"
                )
            checked += 1
    assert checked > 40


def test_renders_hold_the_expected_objects(default_render, production_render):
    assert default_render.names("Deployment") == {GATEWAY, INFERENCE}
    assert default_render.names("StatefulSet") == {
        f"{RELEASE}-postgresql",
        f"{RELEASE}-redis",
    }
    assert default_render.names("HorizontalPodAutoscaler") == set()
    assert default_render.names("Ingress") == set()
    assert production_render.names("StatefulSet") == {f"{RELEASE}-redis"}
    assert production_render.names("HorizontalPodAutoscaler") == {GATEWAY}
    assert production_render.names("Ingress") == {GATEWAY}
    assert production_render.names("PodDisruptionBudget") == {GATEWAY}


# --- the gateway ------------------------------------------------------------------------


@pytest.fixture(params=["default", "production"])
def gateway(request, default_render, production_render) -> dict[str, Any]:
    manifests = default_render if request.param == "default" else production_render
    return manifests.get("Deployment", GATEWAY)


def test_gateway_runs_gunicorn_on_8080(gateway, default_render):
    pod = gateway["spec"]["template"]["spec"]
    main = container(pod, "gateway")
    assert main["command"] == ["gunicorn", "-c", "gunicorn.conf.py"]
    assert main["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert env_of(main)["GUNICORN_BIND"]["value"] == "0.0.0.0:8080"
    service = default_render.get("Service", GATEWAY)
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"][0]["port"] == 8080
    pod_labels = gateway["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_gateway_probes(gateway):
    main = container(gateway["spec"]["template"]["spec"], "gateway")
    allowed = env_of(main)["DJANGO_ALLOWED_HOSTS"]["value"].split(",")
    assert main["livenessProbe"]["httpGet"]["path"] == "/healthcheck"
    assert main["startupProbe"]["httpGet"]["path"] == "/healthcheck"
    assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = main[probe]["httpGet"]
        assert get["port"] == "http"
        # Django rejects a Host it does not serve: the probes send an allowed one.
        (host,) = [h["value"] for h in get["httpHeaders"] if h["name"] == "Host"]
        assert host in allowed


def test_gateway_security_context(gateway, production_render):
    job = production_render.get("Job", f"{GATEWAY}-migrate")
    for pod in (gateway["spec"]["template"]["spec"], job["spec"]["template"]["spec"]):
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        (main,) = pod["containers"]
        context = main["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        # A writable /tmp (gunicorn's worker heartbeat files) on an emptyDir.
        assert {"name": "tmp", "mountPath": "/tmp"} in main["volumeMounts"]  # noqa: S108
        (tmp,) = [v for v in pod["volumes"] if v["name"] == "tmp"]
        assert "emptyDir" in tmp


def test_every_env_example_variable_is_in_the_gateway_env(gateway):
    env = env_of(container(gateway["spec"]["template"]["spec"], "gateway"))
    names = env_example_names()
    assert len(names) > 30
    missing = [name for name in names if name not in env]
    assert missing == []
    for name in SECRET_ENV | {"DATABASE_URL"}:
        item = env[name]
        if name == "DATABASE_URL" and "value" in item:
            # Bundled PostgreSQL: the password is expanded from POSTGRES_PASSWORD.
            assert "$(POSTGRES_PASSWORD)" in item["value"]
            continue
        assert "secretKeyRef" in item["valueFrom"], name


def test_plain_settings_come_from_values(default_render, production_render):
    default = env_of(
        container(
            default_render.get("Deployment", GATEWAY)["spec"]["template"]["spec"],
            "gateway",
        )
    )
    production = env_of(
        container(
            production_render.get("Deployment", GATEWAY)["spec"]["template"]["spec"],
            "gateway",
        )
    )
    assert default["DJANGO_DEBUG"]["value"] == "0"
    assert default["DJANGO_SECURE_SSL_REDIRECT"]["value"] == "1"
    assert production["DJANGO_ALLOWED_HOSTS"]["value"] == "api.example.com"
    assert production["DJANGO_SECURE_PROXY_SSL_HEADER"]["value"] == "1"
    assert production["SMTP_HOST"]["value"] == "smtp.example.com"
    assert production["DATABASE_POOL_MAX_SIZE"]["value"] == "10"


def test_no_secret_in_plain_text_outside_secret_objects(all_renders):
    for render_name, manifests in all_renders.items():
        for doc in manifests.docs:
            text = yaml.safe_dump(doc)
            if doc["kind"] == "Secret":
                # Secrets carry base64 `data` only, never `stringData`.
                assert "stringData" not in doc
                continue
            for value in SECRET_VALUES:
                encoded = base64.b64encode(value.encode()).decode()
                where = f"{render_name}: {doc['kind']}/{doc['metadata']['name']}"
                assert value not in text, where
                assert encoded not in text, where


def test_secrets_are_stored_where_the_env_points(default_render, production_render):
    secret = default_render.get("Secret", GATEWAY)
    stored = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert stored == {**SECRETS, **OPTIONAL_SECRETS}
    # Production: the required ones from the existing Secret, the one --set from the chart's.
    env = env_of(
        container(
            production_render.get("Deployment", GATEWAY)["spec"]["template"]["spec"],
            "gateway",
        )
    )
    for name in SECRETS:
        assert env[name]["valueFrom"]["secretKeyRef"] == {
            "name": "janserver-secrets",
            "key": name,
        }
    assert env["SERPER_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == GATEWAY
    assert env["SMTP_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "janserver-secrets",
        "key": "SMTP_PASSWORD",
        "optional": True,
    }
    secret = production_render.get("Secret", GATEWAY)
    assert set(secret["data"]) == {"SERPER_API_KEY"}


def test_values_files_hold_no_secret(production_values):
    files = [UMBRELLA / "values.yaml", PRODUCTION_VALUES] + [
        APPS / name / "values.yaml" for name in STANDALONE_VALUES
    ]

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in SECRET_ENV or key in {"password", "url"}:
                    assert value in ("", None), f"{path}.{key} is set"
                walk(value, f"{path}.{key}")

    for file in files:
        walk(yaml.safe_load(file.read_text()), file.name)


def test_database_url_from_the_postgresql_subchart(default_render):
    env = env_of(
        container(
            default_render.get("Deployment", GATEWAY)["spec"]["template"]["spec"],
            "gateway",
        )
    )
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": f"{RELEASE}-postgresql",
        "key": "password",
    }
    assert env["DATABASE_URL"]["value"] == (
        f"postgres://janserver:$(POSTGRES_PASSWORD)@{RELEASE}-postgresql:5432/janserver"
    )
    # $(VAR) expands only from variables defined earlier in the list.
    names = list(env)
    assert names.index("POSTGRES_PASSWORD") < names.index("DATABASE_URL")
    pg_secret = default_render.get("Secret", f"{RELEASE}-postgresql")
    assert base64.b64decode(pg_secret["data"]["password"]).decode() == PG_PASSWORD
    assert (
        default_render.get("Service", f"{RELEASE}-postgresql")["spec"]["ports"][0][
            "port"
        ]
        == 5432
    )


def test_database_url_from_an_external_secret(production_render):
    env = env_of(
        container(
            production_render.get("Deployment", GATEWAY)["spec"]["template"]["spec"],
            "gateway",
        )
    )
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "janserver-database",
        "key": "DATABASE_URL",
    }
    assert "POSTGRES_PASSWORD" not in env


def test_redis_url(default_render, production_render, standalone_renders):
    default = env_of(
        container(
            default_render.get("Deployment", GATEWAY)["spec"]["template"]["spec"],
            "gateway",
        )
    )
    assert default["REDIS_URL"]["value"] == f"redis://{RELEASE}-redis:6379/0"
    production = env_of(
        container(
            production_render.get("Deployment", GATEWAY)["spec"]["template"]["spec"],
            "gateway",
        )
    )
    assert production["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "janserver-redis",
        "key": "password",
    }
    assert (
        production["REDIS_URL"]["value"]
        == f"redis://:$(REDIS_PASSWORD)@{RELEASE}-redis:6379/0"
    )
    redis = production_render.get("StatefulSet", f"{RELEASE}-redis")
    redis_env = env_of(container(redis["spec"]["template"]["spec"], "redis"))
    assert (
        redis_env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"]
        == "janserver-redis"
    )
    standalone = standalone_renders["jan-api-gateway"].get("Deployment", GATEWAY)
    env = env_of(container(standalone["spec"]["template"]["spec"], "gateway"))
    assert env["REDIS_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": GATEWAY,
        "key": "REDIS_URL",
    }


def test_inference_url_points_at_the_inference_service(default_render):
    env = env_of(
        container(
            default_render.get("Deployment", GATEWAY)["spec"]["template"]["spec"],
            "gateway",
        )
    )
    assert env["JAN_INFERENCE_SETUP"]["value"] == "true"
    assert env["JAN_INFERENCE_MODEL_URL"]["value"] == f"http://{INFERENCE}:8101/v1"
    service = default_render.get("Service", INFERENCE)
    assert service["spec"]["ports"][0]["port"] == 8101


def test_migration_job_is_a_pre_install_pre_upgrade_hook(production_render):
    job = production_render.get("Job", f"{GATEWAY}-migrate")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    (main,) = job["spec"]["template"]["spec"]["containers"]
    script = " ".join(main["command"])
    assert "python manage.py migrate --no-input && python manage.py bootstrap" in script
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    env = env_of(main)
    assert (
        env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "janserver-database"
    )
    # The chart's own Secret does not exist yet in pre-install: a hook copy, made first.
    copy_ = production_render.get("Secret", f"{GATEWAY}-migrate")
    assert (
        copy_["metadata"]["annotations"]["helm.sh/hook"] == annotations["helm.sh/hook"]
    )
    assert int(copy_["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        annotations["helm.sh/hook-weight"]
    )
    assert (
        env["SERPER_API_KEY"]["valueFrom"]["secretKeyRef"]["name"]
        == f"{GATEWAY}-migrate"
    )
    # The Job's pods are not endpoints of the gateway Service.
    service = production_render.get("Service", GATEWAY)
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert not service["spec"]["selector"].items() <= labels.items()


def test_migration_job_with_bundled_postgresql_runs_after_install(default_render):
    # The bundled PostgreSQL is created with the release, after pre-install hooks: the
    # first migration runs post-install; upgrades migrate before the new pods start.
    job = default_render.get("Job", f"{GATEWAY}-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"


def test_serving_pods_never_migrate(all_renders):
    for manifests in all_renders.values():
        for name, pod in manifests.pod_specs():
            if name.endswith("-migrate"):
                continue
            for c in pod["containers"] + pod.get("initContainers", []):
                assert "migrate" not in " ".join(
                    c.get("command", []) + c.get("args", [])
                )


def test_autoscaling_disruption_budget_and_ingress(production_render):
    deployment = production_render.get("Deployment", GATEWAY)
    assert "replicas" not in deployment["spec"]  # the HPA owns it
    hpa = production_render.get("HorizontalPodAutoscaler", GATEWAY)
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": GATEWAY,
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)
    metrics = hpa["spec"]["metrics"]
    assert metrics[0]["resource"]["name"] == "cpu"
    assert metrics[0]["resource"]["target"]["averageUtilization"] == 70
    assert metrics[1]["pods"]["metric"]["name"] == "janserver_open_streams"
    pdb = production_render.get("PodDisruptionBudget", GATEWAY)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    ingress = production_render.get("Ingress", GATEWAY)
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "api.example.com"
    assert {p["path"] for p in rule["http"]["paths"]} >= {"/v1", "/admin"}
    assert all(
        p["backend"]["service"] == {"name": GATEWAY, "port": {"number": 8080}}
        for p in rule["http"]["paths"]
    )
    assert ingress["spec"]["tls"] == [
        {"hosts": ["api.example.com"], "secretName": "janserver-tls"}
    ]


# --- vLLM -------------------------------------------------------------------------------


def test_vllm_serves_jan_with_jans_flags(default_render):
    deployment = default_render.get("Deployment", INFERENCE)
    pod = deployment["spec"]["template"]["spec"]
    vllm = container(pod, "vllm")
    repository, tag = vllm["image"].split(":")
    assert repository == "vllm/vllm-openai"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", tag), "pin a vLLM release, never latest"
    assert vllm["command"] == ["vllm", "serve"]
    args = vllm["args"]
    assert args[0] == "/models/janhq/Jan-v1-4B"
    assert args[args.index("--served-model-name") + 1] == "jan-v1-4b"
    assert args[args.index("--port") + 1] == "8101"
    assert args[args.index("--host") + 1] == "0.0.0.0"  # noqa: S104 (in the pod)
    flags = " ".join(args)
    assert (
        "--max-num-batched-tokens 1024 --enable-auto-tool-choice "
        "--tool-call-parser hermes --reasoning-parser qwen3"
    ) in flags
    assert vllm["ports"][0]["containerPort"] == 8101
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] == 1
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert vllm[probe]["httpGet"] == {"path": "/health", "port": "http"}
    assert (
        vllm["startupProbe"]["failureThreshold"] * vllm["startupProbe"]["periodSeconds"]
        >= 600
    )
    assert env_of(vllm)["HF_HUB_OFFLINE"]["value"] == "1"
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_vllm_model_is_downloaded_into_the_volume_once(default_render):
    pod = default_render.get("Deployment", INFERENCE)["spec"]["template"]["spec"]
    (download,) = pod["initContainers"]
    env = env_of(download)
    assert env["MODEL_NAME"]["value"] == "janhq/Jan-v1-4B"
    assert env["MODEL_DIR"]["value"] == "/models/janhq/Jan-v1-4B"
    script = download["command"][-1]
    assert 'hf download "$MODEL_NAME"' in script
    assert '--local-dir "$MODEL_DIR"' in script
    assert "exit 0" in script  # skipped when present
    (models,) = [v for v in pod["volumes"] if v["name"] == "models"]
    claim = models["persistentVolumeClaim"]["claimName"]
    assert claim in default_render.names("PersistentVolumeClaim")
    for c in (download, container(pod, "vllm")):
        assert {"name": "models", "mountPath": "/models"} in c["volumeMounts"]
        assert c["securityContext"]["allowPrivilegeEscalation"] is False


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def test_network_policy_admits_only_the_gateway_to_vllm(default_render):
    policy = default_render.get("NetworkPolicy", INFERENCE)
    spec = policy["spec"]
    vllm_labels = default_render.get("Deployment", INFERENCE)["spec"]["template"][
        "metadata"
    ]["labels"]
    assert selects(spec["podSelector"]["matchLabels"], vllm_labels)
    assert spec["policyTypes"] == ["Ingress"]
    (rule,) = spec["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    (peer,) = rule["from"]
    assert set(peer) == {
        "podSelector"
    }  # no namespaceSelector / ipBlock: this namespace only
    allowed = peer["podSelector"]["matchLabels"]
    gateway_labels = default_render.get("Deployment", GATEWAY)["spec"]["template"][
        "metadata"
    ]["labels"]
    assert selects(allowed, gateway_labels)
    for name in (f"{RELEASE}-postgresql", f"{RELEASE}-redis"):
        other = default_render.get("StatefulSet", name)["spec"]["template"]["metadata"][
            "labels"
        ]
        assert not selects(allowed, other)
    assert not selects(allowed, vllm_labels)


def test_databases_admit_only_the_gateway(default_render):
    gateway_labels = default_render.get("Deployment", GATEWAY)["spec"]["template"][
        "metadata"
    ]["labels"]
    job_labels = default_render.get("Job", f"{GATEWAY}-migrate")["spec"]["template"][
        "metadata"
    ]["labels"]
    for name in (f"{RELEASE}-postgresql", f"{RELEASE}-redis"):
        spec = default_render.get("NetworkPolicy", name)["spec"]
        labels = default_render.get("StatefulSet", name)["spec"]["template"][
            "metadata"
        ]["labels"]
        assert selects(spec["podSelector"]["matchLabels"], labels)
        (rule,) = spec["ingress"]
        (peer,) = rule["from"]
        assert selects(peer["podSelector"]["matchLabels"], gateway_labels)
        assert selects(peer["podSelector"]["matchLabels"], job_labels)


# --- PostgreSQL and Redis ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["postgresql", "redis"])
def test_database_statefulsets(default_render, name):
    sts = default_render.get("StatefulSet", f"{RELEASE}-{name}")
    assert sts["spec"]["serviceName"] == f"{RELEASE}-{name}-headless"
    assert f"{RELEASE}-{name}-headless" in default_render.names("Service")
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    pod = sts["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (main,) = pod["containers"]
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert "exec" in main[probe]


def test_every_pod_is_locked_down(all_renders):
    for render_name, manifests in all_renders.items():
        for name, pod in manifests.pod_specs():
            assert pod["securityContext"]["runAsNonRoot"] is True, name
            assert pod["securityContext"]["seccompProfile"] == {
                "type": "RuntimeDefault"
            }
            assert pod["automountServiceAccountToken"] is False
            for c in pod["containers"] + pod.get("initContainers", []):
                where = f"{render_name}: {name}/{c['name']}"
                assert c["securityContext"]["allowPrivilegeEscalation"] is False, where
                assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}, where
                assert "resources" in c, where
                assert ":" in c["image"], where
                assert not c["image"].endswith(":latest"), where


# --- rendering refuses unsafe or incomplete values --------------------------------------


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_missing_required_secret_fails(umbrella, missing):
    secrets = {k: v for k, v in SECRETS.items() if k != missing}
    values = merge(
        UMBRELLA_DEFAULT_VALUES, {"jan-api-gateway": {"secrets": {missing: ""}}}
    )
    values["jan-api-gateway"]["secrets"] = secrets
    message = render_error(umbrella, values)
    assert f"the secret {missing} is missing" in message
    assert "secrets.existingSecret" in message


def test_existing_secret_satisfies_required_secrets(umbrella):
    values = merge(
        UMBRELLA_DEFAULT_VALUES,
        {"jan-api-gateway": {"secrets": {"existingSecret": "mine"}}},
    )
    values["jan-api-gateway"]["secrets"] = {"existingSecret": "mine"}
    manifests = render(umbrella, values)
    env = env_of(
        container(
            manifests.get("Deployment", GATEWAY)["spec"]["template"]["spec"], "gateway"
        )
    )
    assert env["JWT_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "mine",
        "key": "JWT_SECRET",
    }
    assert GATEWAY not in manifests.names("Secret")  # nothing for the chart to hold


def test_missing_postgresql_password_fails(umbrella):
    values = merge(
        UMBRELLA_DEFAULT_VALUES, {"global": {"postgresql": {"auth": {"password": ""}}}}
    )
    message = render_error(umbrella, values)
    assert "the PostgreSQL password is missing" in message
    assert "global.postgresql.auth.existingSecret" in message


@pytest.mark.parametrize(
    ("key", "minimum"), [("APIKEY_SECRET", 32), ("JWT_SECRET", 64)]
)
def test_short_secret_fails(umbrella, key, minimum):
    short = "x" * (minimum - 1)
    values = merge(
        UMBRELLA_DEFAULT_VALUES, {"jan-api-gateway": {"secrets": {key: short}}}
    )
    message = render_error(umbrella, values)
    assert (
        f"secrets.{key} is too short: use at least {minimum} random characters"
        in message
    )


def test_secret_under_config_fails(umbrella):
    values = merge(
        UMBRELLA_DEFAULT_VALUES, {"jan-api-gateway": {"config": {"JWT_SECRET": "x"}}}
    )
    assert "JWT_SECRET is a secret" in render_error(umbrella, values)


@pytest.mark.parametrize(
    "gateway_values",
    [
        {"replicaCount": 3},
        {"replicaCount": 1, "autoscaling": {"enabled": True}},
        {"replicaCount": 1, "config": {"GUNICORN_WORKERS": "4"}},
    ],
    ids=["replicas", "autoscaling", "workers"],
)
def test_more_than_one_process_without_redis_fails(umbrella, gateway_values):
    values = merge(
        UMBRELLA_DEFAULT_VALUES,
        {"global": {"redis": {"enabled": False}}, "jan-api-gateway": gateway_values},
    )
    assert "Redis is required when more than one gateway process runs" in render_error(
        umbrella, values
    )


def test_one_process_runs_without_redis(umbrella):
    values = merge(
        UMBRELLA_DEFAULT_VALUES,
        {
            "global": {"redis": {"enabled": False}},
            "jan-api-gateway": {"replicaCount": 1, "config": {"GUNICORN_WORKERS": "1"}},
        },
    )
    manifests = render(umbrella, values)
    assert f"{RELEASE}-redis" not in manifests.names("StatefulSet")
    assert GATEWAY not in manifests.names("PodDisruptionBudget")
    env = env_of(
        container(
            manifests.get("Deployment", GATEWAY)["spec"]["template"]["spec"], "gateway"
        )
    )
    assert env["REDIS_URL"] == {"name": "REDIS_URL", "value": ""}


def test_no_database_fails(umbrella):
    values = merge(
        UMBRELLA_DEFAULT_VALUES, {"global": {"postgresql": {"enabled": False}}}
    )
    assert "no database" in render_error(umbrella, values)


def test_probe_host_follows_allowed_hosts(umbrella):
    values = merge(
        UMBRELLA_DEFAULT_VALUES,
        {
            "jan-api-gateway": {
                "config": {"DJANGO_ALLOWED_HOSTS": " .example.org, api.example.org"}
            }
        },
    )
    pod = render(umbrella, values).get("Deployment", GATEWAY)["spec"]["template"][
        "spec"
    ]
    probe = container(pod, "gateway")["readinessProbe"]["httpGet"]
    # ".example.org" serves example.org and its subdomains.
    assert probe["httpHeaders"] == [{"name": "Host", "value": "example.org"}]
