{{/* Every define here starts with "redis." (names are global to the umbrella). */}}

{{- define "redis.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "redis.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "redis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "redis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "redis.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | trunc 63 | trimSuffix "-" }}
{{ include "redis.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: janserver
app.kubernetes.io/component: cache
{{- end -}}

{{/* auth: global.redis.auth over this chart's auth (JSON). */}}
{{- define "redis.auth" -}}
{{- $global := dict -}}
{{- if and .Values.global .Values.global.redis -}}
{{- $global = .Values.global.redis.auth | default dict -}}
{{- end -}}
{{- $auth := dict -}}
{{- range $key, $value := .Values.auth -}}
{{- $_ := set $auth $key (ternary (index $global $key) $value (hasKey $global $key)) -}}
{{- end -}}
{{- toJson $auth -}}
{{- end -}}

{{- define "redis.secretName" -}}
{{- $auth := include "redis.auth" . | fromJson -}}
{{- $auth.existingSecret | default (include "redis.fullname" .) -}}
{{- end -}}
