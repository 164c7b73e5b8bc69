{{- define "tanso-host.fullname" -}}
{{- printf "%s-tanso-host" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tanso-host.labels" -}}
app.kubernetes.io/name: tanso-host
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "tanso-host.selector" -}}
app.kubernetes.io/name: tanso-host
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
