{{- define "comox.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "comox.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "comox.selectorLabels" -}}
app.kubernetes.io/name: {{ include "comox.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "comox.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{ include "comox.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "comox.secretName" -}}
{{- default (include "comox.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{- define "comox.gatewayConfig" -}}
{{- $server := dict "host" "0.0.0.0" "port" (int .Values.service.port) "workers" (int .Values.workers) -}}
{{- $fixed := dict "server" $server "store" "${COMOX_STORE:-sqlite:////data/comox.db}" "limits" "${COMOX_LIMITS:-memory}" "admin_key" "${COMOX_ADMIN_KEY:-}" -}}
{{- /* shared state for several replicas, unless the config says otherwise: the response cache
in the limits' Redis, agents beside the keys in PostgreSQL */ -}}
{{- $shared := dict -}}
{{- if .Values.redisUrl -}}{{- $_ := set $shared "cache" (dict "redis" "${COMOX_LIMITS}") -}}{{- end -}}
{{- if .Values.postgresUrl -}}{{- $_ := set $shared "agents" (dict "store" "${COMOX_STORE}") -}}{{- end -}}
{{- toYaml (merge $fixed (deepCopy .Values.config) $shared) -}}
{{- end -}}
