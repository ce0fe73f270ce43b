{{/*
The chart name (nameOverride replaces it).
*/}}
{{- define "bookkeeper-jobs.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every resource name: the release name, followed by the chart name unless the
release name already contains it. Truncated to leave room for the longest suffix
("-operator-cluster", 17 characters) within 63.
*/}}
{{- define "bookkeeper-jobs.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 46 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 46 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 46 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "bookkeeper-jobs.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every resource. Call with (dict "context" $ "component" "api").
*/}}
{{- define "bookkeeper-jobs.labels" -}}
helm.sh/chart: {{ include "bookkeeper-jobs.chart" .context }}
{{ include "bookkeeper-jobs.selectorLabels" . }}
app.kubernetes.io/part-of: bookkeeper-jobs
{{- if .context.Chart.AppVersion }}
app.kubernetes.io/version: {{ .context.Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
{{- end }}

{{/*
Selector labels: stable across upgrades. Call with (dict "context" $ "component" "api").
*/}}
{{- define "bookkeeper-jobs.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bookkeeper-jobs.name" .context }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
ServiceAccount names, one per component.
*/}}
{{- define "bookkeeper-jobs.serviceAccountName" -}}
{{- printf "%s-%s" (include "bookkeeper-jobs.fullname" .context) .component }}
{{- end }}

{{- define "bookkeeper-jobs.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The Secret with BKJOBS_DATABASE_URL: the chart's own with postgresql.enabled, else the
existing one (required).
*/}}
{{- define "bookkeeper-jobs.databaseSecret" -}}
{{- if .Values.postgresql.enabled }}
{{- printf "%s-database" (include "bookkeeper-jobs.fullname" .) }}
{{- else }}
{{- required "database.existingSecret is required unless postgresql.enabled is true" .Values.database.existingSecret }}
{{- end }}
{{- end }}

{{/*
The Secret with the API keys and JWT secret ("" when there is none).
*/}}
{{- define "bookkeeper-jobs.authSecret" -}}
{{- if .Values.auth.existingSecret }}
{{- .Values.auth.existingSecret }}
{{- else if .Values.auth.apiKeys }}
{{- printf "%s-auth" (include "bookkeeper-jobs.fullname" .) }}
{{- end }}
{{- end }}

{{/*
The Secret with BKJOBS_SECRETS_KEY (key auth.secretsKeyKey): auth.existingSecret, else the
one the chart generates (templates/secrets-key-secret.yaml).
*/}}
{{- define "bookkeeper-jobs.secretsKeySecret" -}}
{{- default (printf "%s-secrets-key" (include "bookkeeper-jobs.fullname" .)) .Values.auth.existingSecret }}
{{- end }}

{{/*
"true" when the Secret with BKJOBS_SECRETS_KEY exists before this install or upgrade applies
anything: an existing Secret is named, or the generated one is already in the cluster ("" under
`helm template`, which has no cluster).
*/}}
{{- define "bookkeeper-jobs.secretsKeyExists" -}}
{{- if or .Values.auth.existingSecret (lookup "v1" "Secret" .Release.Namespace (include "bookkeeper-jobs.secretsKeySecret" .)) }}
{{- print "true" }}
{{- end }}
{{- end }}

{{/*
"true" when artifacts live on the shared claim (backend directory), empty with s3.
*/}}
{{- define "bookkeeper-jobs.artifactsOnVolume" -}}
{{- if ne .Values.artifacts.backend "s3" }}true{{ end }}
{{- end }}

{{/*
The BKJOBS_* settings of the artifact store (plain values), shared by every pod.
*/}}
{{- define "bookkeeper-jobs.artifactsSettings" -}}
{{- $a := .Values.artifacts }}
{{- $settings := dict "BKJOBS_ARTIFACTS_BACKEND" (ternary "directory" "s3" (ne $a.backend "s3")) }}
{{- if eq $a.backend "s3" }}
{{- $_ := set $settings "BKJOBS_S3_BUCKET" $a.s3.bucket }}
{{- $_ := set $settings "BKJOBS_S3_PREFIX" $a.s3.prefix }}
{{- $_ := set $settings "BKJOBS_S3_ENDPOINT_URL" $a.s3.endpointUrl }}
{{- $_ := set $settings "BKJOBS_S3_REGION" $a.s3.region }}
{{- $_ := set $settings "BKJOBS_S3_SSE" $a.s3.sse }}
{{- $_ := set $settings "BKJOBS_S3_SSE_KMS_KEY_ID" $a.s3.sseKmsKeyId }}
{{- $_ := set $settings "BKJOBS_S3_PRESIGN_SECONDS" (toString $a.s3.presignSeconds) }}
{{- end }}
{{- toJson $settings }}
{{- end }}

{{/*
The data volume of the API and operator pods: the shared claim, or scratch space with s3.
*/}}
{{- define "bookkeeper-jobs.dataVolume" -}}
- name: data
{{- if include "bookkeeper-jobs.artifactsOnVolume" . }}
  persistentVolumeClaim:
    claimName: {{ include "bookkeeper-jobs.artifactsClaim" . }}
{{- else }}
  emptyDir:
    sizeLimit: 1Gi
{{- end }}
{{- end }}

{{- define "bookkeeper-jobs.artifactsClaim" -}}
{{- default (printf "%s-artifacts" (include "bookkeeper-jobs.fullname" .)) .Values.artifacts.existingClaim }}
{{- end }}

{{/*
Environment shared by the API, the operator and the migrations. Call with
(dict "context" $ "dataDir" "/data").
*/}}
{{- define "bookkeeper-jobs.commonEnv" -}}
{{- $values := .context.Values }}
- name: BKJOBS_ENVIRONMENT
  value: {{ $values.environment | quote }}
- name: BKJOBS_DATA_DIR
  value: {{ .dataDir | quote }}
- name: BKJOBS_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "bookkeeper-jobs.databaseSecret" .context }}
      key: {{ $values.database.secretKey }}
- name: BKJOBS_SECRETS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "bookkeeper-jobs.secretsKeySecret" .context }}
      key: {{ $values.auth.secretsKeyKey }}
- name: BKJOBS_KUBERNETES_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- range $name, $value := include "bookkeeper-jobs.artifactsSettings" .context | fromJson }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- with $values.artifacts.s3.credentialsSecret }}
{{- if eq $values.artifacts.backend "s3" }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: AWS_ACCESS_KEY_ID
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: AWS_SECRET_ACCESS_KEY
{{- end }}
{{- end }}
{{- range $name, $value := $values.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}

{{/*
The pod-level security context of every pod.
*/}}
{{- define "bookkeeper-jobs.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.runAsUser }}
runAsGroup: {{ .Values.runAsUser }}
fsGroup: {{ .Values.runAsUser }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
The container-level security context of every container.
*/}}
{{- define "bookkeeper-jobs.containerSecurityContext" -}}
runAsNonRoot: true
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Scheduling constraints shared by every pod.
*/}}
{{- define "bookkeeper-jobs.scheduling" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The operator's template for task Jobs (BKJOBS_TASK_TEMPLATE): the fields of
bookkeeper_jobs.operator.manifests.JobTemplateConfig as JSON.
*/}}
{{- define "bookkeeper-jobs.taskTemplate" -}}
{{- $env := dict "BKJOBS_ENVIRONMENT" .Values.environment }}
{{- range $name, $value := include "bookkeeper-jobs.artifactsSettings" . | fromJson }}
{{- $_ := set $env $name $value }}
{{- end }}
{{- range $name, $value := .Values.extraEnv }}
{{- $_ := set $env $name $value }}
{{- end }}
{{- $template := dict
  "image" (include "bookkeeper-jobs.image" .)
  "image_pull_policy" .Values.image.pullPolicy
  "image_pull_secrets" .Values.imagePullSecrets
  "service_account" (include "bookkeeper-jobs.serviceAccountName" (dict "context" . "component" "task"))
  "backoff_limit" .Values.task.backoffLimit
  "active_deadline_seconds" .Values.task.activeDeadlineSeconds
  "ttl_seconds_after_finished" .Values.task.ttlSecondsAfterFinished
  "resources" .Values.task.resources
  "artifacts_claim" (ternary (include "bookkeeper-jobs.artifactsClaim" .) nil (eq (include "bookkeeper-jobs.artifactsOnVolume" .) "true"))
  "data_dir" (ternary .Values.artifacts.mountPath "/tmp/data" (eq (include "bookkeeper-jobs.artifactsOnVolume" .) "true"))
  "s3_credentials_secret" (ternary .Values.artifacts.s3.credentialsSecret nil (and (eq .Values.artifacts.backend "s3") (ne .Values.artifacts.s3.credentialsSecret "")))
  "database_secret" (include "bookkeeper-jobs.databaseSecret" .)
  "database_secret_key" .Values.database.secretKey
  "secrets_key_secret" (include "bookkeeper-jobs.secretsKeySecret" .)
  "secrets_key_secret_key" .Values.auth.secretsKeyKey
  "env" $env
  "run_as_user" .Values.runAsUser
  "pod_failure_policy" true
}}
{{- toJson $template }}
{{- end }}
