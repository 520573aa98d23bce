{{/* The standard fullname of a subchart of this release: <release>-<chart>. */}}
{{- define "janserver.sibling" -}}
{{- if contains .chart .release -}}
{{- .release | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .release .chart | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
