{{/* The release's base name. */}}
{{- define "assay.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object; $component is worker, controller, admission, … */}}
{{- define "assay.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: assay
{{- end -}}

{{- define "assay.selectorLabels" -}}
app.kubernetes.io/name: {{ default .root.Chart.Name .root.Values.nameOverride }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "assay.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}
{{- end -}}

{{/* The namespace of a team entry: its own, else namespaceTemplate with {team} replaced. */}}
{{- define "assay.teamNamespace" -}}
{{- if .team.namespace -}}
{{ .team.namespace }}
{{- else -}}
{{ replace "{team}" .team.name .root.Values.namespaceTemplate }}
{{- end -}}
{{- end -}}

{{- define "assay.s3Secret" -}}
{{- if .Values.s3.existingSecret -}}
{{ .Values.s3.existingSecret }}
{{- else -}}
{{ include "assay.fullname" . }}-s3
{{- end -}}
{{- end -}}

{{/* Restricted-profile security context of every Assay container (read-only root, non-root, no capabilities). */}}
{{- define "assay.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Temporal and S3 settings shared by the worker and the controller. */}}
{{- define "assay.temporalEnv" -}}
- name: TEMPORAL_ADDRESS
  value: {{ .Values.temporal.address | quote }}
- name: TEMPORAL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
{{- if .Values.temporal.tls.enabled }}
- name: TEMPORAL_TLS
  value: "true"
{{- if .Values.temporal.tls.existingSecret }}
- name: TEMPORAL_TLS_CERT
  value: /etc/assay/temporal-tls/tls.crt
- name: TEMPORAL_TLS_KEY
  value: /etc/assay/temporal-tls/tls.key
- name: TEMPORAL_TLS_CA
  value: /etc/assay/temporal-tls/ca.crt
{{- end }}
{{- if .Values.temporal.tls.serverName }}
- name: TEMPORAL_TLS_SERVER_NAME
  value: {{ .Values.temporal.tls.serverName | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "assay.temporalTlsVolume" -}}
{{- if and .Values.temporal.tls.enabled .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  secret:
    secretName: {{ .Values.temporal.tls.existingSecret }}
    optional: false
{{- end }}
{{- end -}}

{{- define "assay.temporalTlsMount" -}}
{{- if and .Values.temporal.tls.enabled .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  mountPath: /etc/assay/temporal-tls
  readOnly: true
{{- end }}
{{- end -}}

{{/*
The admission webhook's CA and serving certificate, generated once per render and shared by every template that
needs them (the Secret, the webhook configurations, the CRD's conversion), reusing the Secret of an earlier release
when it exists so that an upgrade does not rotate them.
*/}}
{{- define "assay.admissionTls" -}}
{{- if not (hasKey .Values "__assayAdmissionTls") -}}
{{- $name := printf "%s-admission" (include "assay.fullname" .) -}}
{{- $secretName := printf "%s-tls" $name -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $secretName -}}
{{- $tls := dict -}}
{{- if and $existing $existing.data (hasKey $existing.data "ca.crt") (hasKey $existing.data "tls.crt") (hasKey $existing.data "tls.key") -}}
{{- $_ := set $tls "ca" (index $existing.data "ca.crt") -}}
{{- $_ := set $tls "crt" (index $existing.data "tls.crt") -}}
{{- $_ := set $tls "key" (index $existing.data "tls.key") -}}
{{- else -}}
{{- $days := int .Values.admission.certValidityDays -}}
{{- $ca := genCA (printf "%s-ca" $name) $days -}}
{{- $dns := list $name (printf "%s.%s" $name .Release.Namespace) (printf "%s.%s.svc" $name .Release.Namespace) (printf "%s.%s.svc.cluster.local" $name .Release.Namespace) -}}
{{- $cert := genSignedCert (printf "%s.%s.svc" $name .Release.Namespace) nil $dns $days $ca -}}
{{- $_ := set $tls "ca" ($ca.Cert | b64enc) -}}
{{- $_ := set $tls "crt" ($cert.Cert | b64enc) -}}
{{- $_ := set $tls "key" ($cert.Key | b64enc) -}}
{{- end -}}
{{- $_ := set .Values "__assayAdmissionTls" $tls -}}
{{- end -}}
{{- toJson (get .Values "__assayAdmissionTls") -}}
{{- end -}}

{{/* The webhook client config of the admission Service at a path. */}}
{{- define "assay.admissionClientConfig" -}}
service:
  namespace: {{ .root.Release.Namespace }}
  name: {{ include "assay.fullname" .root }}-admission
  path: {{ .path }}
  port: 443
{{- if not .root.Values.admission.certManager.enabled }}
caBundle: {{ (include "assay.admissionTls" .root | fromJson).ca }}
{{- end }}
{{- end -}}
