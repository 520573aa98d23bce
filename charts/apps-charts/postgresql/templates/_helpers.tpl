{{/* Every define here starts with "postgresql." (names are global to the umbrella). */}}

{{- define "postgresql.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "postgresql.fullname" -}}
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

{{- define "postgresql.selectorLabels" -}}
app.kubernetes.io/name: {{ include "postgresql.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "postgresql.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | trunc 63 | trimSuffix "-" }}
{{ include "postgresql.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: janserver
app.kubernetes.io/component: database
{{- end -}}

{{/* auth: global.postgresql.auth over this chart's auth (JSON). */}}
{{- define "postgresql.auth" -}}
{{- $global := dict -}}
{{- if and .Values.global .Values.global.postgresql -}}
{{- $global = .Values.global.postgresql.auth | default dict -}}
{{- end -}}
{{- $auth := dict -}}
{{- range $key, $value := .Values.auth -}}
{{- $_ := set $auth $key (index $global $key | default $value) -}}
{{- end -}}
{{- toJson $auth -}}
{{- end -}}

{{- define "postgresql.secretName" -}}
{{- $auth := include "postgresql.auth" . | fromJson -}}
{{- $auth.existingSecret | default (include "postgresql.fullname" .) -}}
{{- end -}}
