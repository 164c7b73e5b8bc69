{{- define "tanso.fullname" -}}
{{- printf "%s-tanso" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tanso.labels" -}}
app.kubernetes.io/name: tanso
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "tanso.selector" -}}
app.kubernetes.io/name: tanso
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
