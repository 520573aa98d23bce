{{/*
Template names are global across the umbrella chart and its subcharts: every define here
starts with "jan-api-gateway.".
*/}}

{{- define "jan-api-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "jan-api-gateway.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- include "jan-api-gateway.sibling" (dict "release" .Release.Name "chart" (default .Chart.Name .Values.nameOverride)) -}}
{{- end -}}
{{- end -}}

{{/* The standard fullname of a chart of this release: <release>-<chart>. */}}
{{- define "jan-api-gateway.sibling" -}}
{{- if contains .chart .release -}}
{{- .release | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .release .chart | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "jan-api-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "jan-api-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "jan-api-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "jan-api-gateway.labels" -}}
helm.sh/chart: {{ include "jan-api-gateway.chart" . }}
{{ include "jan-api-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: janserver
{{- end -}}

{{- define "jan-api-gateway.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) -}}
{{- end -}}

{{/* The container port: the port of GUNICORN_BIND. */}}
{{- define "jan-api-gateway.port" -}}
{{- splitList ":" (toString .Values.config.GUNICORN_BIND) | last | int -}}
{{- end -}}

{{/* Host header of the probes: probes.host, else the first DJANGO_ALLOWED_HOSTS entry. */}}
{{- define "jan-api-gateway.probeHost" -}}
{{- if .Values.probes.host -}}
{{- .Values.probes.host -}}
{{- else -}}
{{- $first := "" -}}
{{- range splitList "," (toString .Values.config.DJANGO_ALLOWED_HOSTS) -}}
{{- if and (not $first) (trim .) -}}
{{- $first = trim . -}}
{{- end -}}
{{- end -}}
{{- $first = trimPrefix "." $first -}}
{{- if or (not $first) (eq $first "*") -}}
localhost
{{- else -}}
{{- $first -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "jan-api-gateway.inferenceUrl" -}}
{{- printf "http://%s:8101/v1" (include "jan-api-gateway.sibling" (dict "release" .Release.Name "chart" "jan-inference-model")) -}}
{{- end -}}

{{/* Plain settings, with the computed defaults filled in (YAML map). */}}
{{- define "jan-api-gateway.config" -}}
{{- $config := deepCopy .Values.config -}}
{{- if not $config.JAN_INFERENCE_MODEL_URL -}}
{{- $_ := set $config "JAN_INFERENCE_MODEL_URL" (include "jan-api-gateway.inferenceUrl" .) -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}

{{- define "jan-api-gateway.requiredSecretKeys" -}}
["DJANGO_SECRET_KEY", "JWT_SECRET", "APIKEY_SECRET", "MODEL_PROVIDER_SECRET"]
{{- end -}}

{{- define "jan-api-gateway.optionalSecretKeys" -}}
["SMTP_PASSWORD", "OAUTH2_GOOGLE_CLIENT_SECRET", "OIDC_PROVIDERS", "SERPER_API_KEY", "METRICS_TOKEN"]
{{- end -}}

{{/* Which Secret holds a key: the chart's when its value was given, else existingSecret. */}}
{{- define "jan-api-gateway.secretSource" -}}
{{- $secrets := .root.Values.secrets -}}
{{- if index $secrets .key -}}
{{- .chartSecret -}}
{{- else if $secrets.existingSecret -}}
{{- $secrets.existingSecret -}}
{{- else -}}
{{- .chartSecret -}}
{{- end -}}
{{- end -}}

{{- define "jan-api-gateway.postgresql.host" -}}
{{- .Values.global.postgresql.host | default (include "jan-api-gateway.sibling" (dict "release" .Release.Name "chart" "postgresql")) -}}
{{- end -}}

{{- define "jan-api-gateway.postgresql.secretName" -}}
{{- .Values.global.postgresql.auth.existingSecret | default (include "jan-api-gateway.sibling" (dict "release" .Release.Name "chart" "postgresql")) -}}
{{- end -}}

{{- define "jan-api-gateway.redis.host" -}}
{{- .Values.global.redis.host | default (include "jan-api-gateway.sibling" (dict "release" .Release.Name "chart" "redis")) -}}
{{- end -}}

{{- define "jan-api-gateway.redis.secretName" -}}
{{- .Values.global.redis.auth.existingSecret | default (include "jan-api-gateway.sibling" (dict "release" .Release.Name "chart" "redis")) -}}
{{- end -}}

{{- define "jan-api-gateway.hasRedis" -}}
{{- if or .Values.global.redis.enabled .Values.externalRedis.existingSecret .Values.externalRedis.url -}}true{{- end -}}
{{- end -}}

{{/* Data of the chart's Secret (base64 YAML map; empty when every secret is external). */}}
{{- define "jan-api-gateway.secretData" -}}
{{- $v := .Values -}}
{{- $keys := concat (include "jan-api-gateway.requiredSecretKeys" . | fromJsonArray) (include "jan-api-gateway.optionalSecretKeys" . | fromJsonArray) -}}
{{- range $key := $keys }}
{{- with index $v.secrets $key }}
{{ $key }}: {{ . | toString | b64enc | quote }}
{{- end }}
{{- end }}
{{- if and (not $v.global.postgresql.enabled) $v.externalDatabase.url }}
DATABASE_URL: {{ $v.externalDatabase.url | toString | b64enc | quote }}
{{- end }}
{{- if and (not $v.global.redis.enabled) $v.externalRedis.url }}
REDIS_URL: {{ $v.externalRedis.url | toString | b64enc | quote }}
{{- end }}
{{- end -}}

{{/*
Container environment: every variable of .env.example. Arguments: root, chartSecret (the
Secret holding values given at install), withRedis.
*/}}
{{- define "jan-api-gateway.env" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $chartSecret := .chartSecret -}}
{{- range $name, $value := include "jan-api-gateway.config" $root | fromYaml }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- range $key := include "jan-api-gateway.requiredSecretKeys" $root | fromJsonArray }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ include "jan-api-gateway.secretSource" (dict "root" $root "key" $key "chartSecret" $chartSecret) }}
      key: {{ $key }}
{{- end }}
{{- range $key := include "jan-api-gateway.optionalSecretKeys" $root | fromJsonArray }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ include "jan-api-gateway.secretSource" (dict "root" $root "key" $key "chartSecret" $chartSecret) }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- if $v.global.postgresql.enabled }}
{{- $auth := $v.global.postgresql.auth }}
- name: POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "jan-api-gateway.postgresql.secretName" $root }}
      key: {{ $auth.secretKey | default "password" }}
- name: DATABASE_URL
  value: {{ printf "postgres://%s:$(POSTGRES_PASSWORD)@%s:%v/%s" $auth.username (include "jan-api-gateway.postgresql.host" $root) ($v.global.postgresql.port | default 5432) $auth.database | quote }}
{{- else if $v.externalDatabase.url }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $chartSecret }}
      key: DATABASE_URL
{{- else }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.externalDatabase.existingSecret }}
      key: {{ $v.externalDatabase.existingSecretKey }}
{{- end }}
{{- if .withRedis }}
{{- if $v.global.redis.enabled }}
{{- $host := include "jan-api-gateway.redis.host" $root }}
{{- $port := $v.global.redis.port | default 6379 }}
{{- if $v.global.redis.auth.enabled }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "jan-api-gateway.redis.secretName" $root }}
      key: {{ $v.global.redis.auth.secretKey | default "password" }}
- name: REDIS_URL
  value: {{ printf "redis://:$(REDIS_PASSWORD)@%s:%v/0" $host $port | quote }}
{{- else }}
- name: REDIS_URL
  value: {{ printf "redis://%s:%v/0" $host $port | quote }}
{{- end }}
{{- else if $v.externalRedis.url }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $chartSecret }}
      key: REDIS_URL
{{- else if $v.externalRedis.existingSecret }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.externalRedis.existingSecret }}
      key: {{ $v.externalRedis.existingSecretKey }}
{{- else }}
- name: REDIS_URL
  value: ""
{{- end }}
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Install and upgrade phases of the migration hook. */}}
{{- define "jan-api-gateway.migrationHooks" -}}
{{- $install := .Values.migrations.installHook | default "auto" -}}
{{- if eq $install "auto" -}}
{{- $install = ternary "post-install" "pre-install" (not (not .Values.global.postgresql.enabled)) -}}
{{- end -}}
{{- if not (has $install (list "pre-install" "post-install")) -}}
{{- fail (printf "jan-api-gateway: migrations.installHook must be auto, pre-install or post-install, not %q." $install) -}}
{{- end -}}
{{- printf "%s,pre-upgrade" $install -}}
{{- end -}}

{{/* Checks that make rendering fail with a clear message. */}}
{{- define "jan-api-gateway.validate" -}}
{{- $v := .Values -}}
{{- $required := include "jan-api-gateway.requiredSecretKeys" . | fromJsonArray -}}
{{- $optional := include "jan-api-gateway.optionalSecretKeys" . | fromJsonArray -}}
{{- range $key := concat $required $optional (list "DATABASE_URL" "REDIS_URL") -}}
{{- if hasKey $v.config $key -}}
{{- fail (printf "jan-api-gateway: %s is a secret: set it under secrets (or externalDatabase / externalRedis for the URLs), never under config." $key) -}}
{{- end -}}
{{- end -}}
{{- range $key := $required -}}
{{- if not (or (index $v.secrets $key) $v.secrets.existingSecret) -}}
{{- fail (printf "jan-api-gateway: the secret %s is missing. Set secrets.existingSecret to a Secret holding %s (and the other required keys), or pass it at install: --set secrets.%s=<long random value> (jan-api-gateway.secrets.%s in the umbrella chart). The chart never generates secrets." $key $key $key $key) -}}
{{- end -}}
{{- end -}}
{{- range $key, $min := dict "DJANGO_SECRET_KEY" 32 "JWT_SECRET" 64 "APIKEY_SECRET" 32 -}}
{{- $value := index $v.secrets $key | default "" | toString -}}
{{- if and $value (lt (len $value) $min) -}}
{{- fail (printf "jan-api-gateway: secrets.%s is too short: use at least %d random characters (production refuses shorter ones)." $key $min) -}}
{{- end -}}
{{- end -}}
{{- $external := or $v.externalDatabase.existingSecret $v.externalDatabase.url -}}
{{- if and $v.global.postgresql.enabled $external -}}
{{- fail "jan-api-gateway: both the bundled PostgreSQL (global.postgresql.enabled) and externalDatabase are set: choose one." -}}
{{- end -}}
{{- if not (or $v.global.postgresql.enabled $external) -}}
{{- fail "jan-api-gateway: no database. Enable the bundled PostgreSQL (global.postgresql.enabled=true in the umbrella chart), or set externalDatabase.existingSecret (a Secret holding DATABASE_URL) or externalDatabase.url at install." -}}
{{- end -}}
{{- if $v.global.postgresql.enabled -}}
{{- $auth := $v.global.postgresql.auth -}}
{{- if not (regexMatch "^[A-Za-z0-9._~-]+$" (toString $auth.username)) -}}
{{- fail "jan-api-gateway: global.postgresql.auth.username must use only URL-safe characters (A-Z a-z 0-9 . _ ~ -)." -}}
{{- end -}}
{{- if and $auth.password (not (regexMatch "^[A-Za-z0-9._~-]+$" (toString $auth.password))) -}}
{{- fail "jan-api-gateway: global.postgresql.auth.password must use only URL-safe characters (A-Z a-z 0-9 . _ ~ -): it is placed in DATABASE_URL." -}}
{{- end -}}
{{- end -}}
{{- if and $v.global.redis.enabled (or $v.externalRedis.existingSecret $v.externalRedis.url) -}}
{{- fail "jan-api-gateway: both the bundled Redis (global.redis.enabled) and externalRedis are set: choose one." -}}
{{- end -}}
{{- $workers := toString $v.config.GUNICORN_WORKERS -}}
{{- $multi := or (gt (int $v.replicaCount) 1) $v.autoscaling.enabled (ne $workers "1") -}}
{{- if and $multi (not (include "jan-api-gateway.hasRedis" .)) -}}
{{- fail (printf "jan-api-gateway: Redis is required when more than one gateway process runs (replicaCount=%v, autoscaling.enabled=%v, GUNICORN_WORKERS=%q): enable the bundled Redis (global.redis.enabled=true in the umbrella chart) or set externalRedis.existingSecret / externalRedis.url. Only replicaCount=1 with GUNICORN_WORKERS=1 runs without Redis." $v.replicaCount $v.autoscaling.enabled $workers) -}}
{{- end -}}
{{- if not (trim (toString $v.config.DJANGO_ALLOWED_HOSTS)) -}}
{{- fail "jan-api-gateway: config.DJANGO_ALLOWED_HOSTS is empty: list the host names the gateway serves." -}}
{{- end -}}
{{- if lt (int (include "jan-api-gateway.port" .)) 1 -}}
{{- fail "jan-api-gateway: config.GUNICORN_BIND must end with a port, e.g. 0.0.0.0:8080." -}}
{{- end -}}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) -}}
{{- fail "jan-api-gateway: autoscaling.minReplicas is greater than autoscaling.maxReplicas." -}}
{{- end -}}
{{- end -}}

{{/* Shared pod pieces. */}}
{{- define "jan-api-gateway.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end -}}
