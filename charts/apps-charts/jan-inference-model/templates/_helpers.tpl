{{/* Every define here starts with "jan-inference-model." (names are global to the umbrella). */}}

{{- define "jan-inference-model.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "jan-inference-model.fullname" -}}
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

{{- define "jan-inference-model.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "jan-inference-model.selectorLabels" -}}
app.kubernetes.io/name: {{ include "jan-inference-model.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "jan-inference-model.labels" -}}
helm.sh/chart: {{ include "jan-inference-model.chart" . }}
{{ include "jan-inference-model.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: janserver
app.kubernetes.io/component: inference
{{- end -}}

{{- define "jan-inference-model.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) -}}
{{- end -}}

{{- define "jan-inference-model.modelDir" -}}
{{- printf "%s/%s" (trimSuffix "/" .Values.persistence.mountPath) .Values.model.name -}}
{{- end -}}

{{- define "jan-inference-model.claimName" -}}
{{- .Values.persistence.existingClaim | default (printf "%s-models" (include "jan-inference-model.fullname" .)) -}}
{{- end -}}
