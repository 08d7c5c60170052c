{{/*
Return the name of the operator: fixed, because the operator's NetworkPolicies let Pods labelled
app.kubernetes.io/name=labelhive-operator reach the web component (settings.OPERATOR_POD_LABELS).
*/}}
{{- define "labelhive-operator.name" -}}
labelhive-operator
{{- end }}

{{/*
Return the fully qualified name of the operator's objects, truncated to the 63-character DNS limit.
*/}}
{{- define "labelhive-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains "labelhive-operator" .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-operator" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
Return the chart label value (name-version, "+" is not allowed in label values).
*/}}
{{- define "labelhive-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Return the immutable selector labels (name + instance only; selectors can never change).
*/}}
{{- define "labelhive-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "labelhive-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Return the standard labels of every object of this chart.
*/}}
{{- define "labelhive-operator.labels" -}}
{{ include "labelhive-operator.selectorLabels" . }}
helm.sh/chart: {{ include "labelhive-operator.chart" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: labelhive
{{- end }}

{{/*
Return the ServiceAccount the operator runs as.
*/}}
{{- define "labelhive-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "labelhive-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Return the operator image reference; a digest wins over the tag, the tag defaults to appVersion.
*/}}
{{- define "labelhive-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Return the namespaces the operator watches: none means cluster-wide; namespace scope defaults to
the release namespace.
*/}}
{{- define "labelhive-operator.watchNamespaces" -}}
{{- if eq .Values.rbac.scope "namespace" }}
{{- if .Values.watchNamespaces }}
{{- join "," .Values.watchNamespaces }}
{{- else }}
{{- .Release.Namespace }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Return the RBAC rules every mode needs (operator/README.md "RBAC"; no wildcards, no list/watch on
Secrets, no pods/exec, no escalate/bind/impersonate).
*/}}
{{- define "labelhive-operator.rules" -}}
- apiGroups: [labelhive.io]
  resources: [labelingprojects]
  verbs: [get, list, watch, patch]
- apiGroups: [labelhive.io]
  resources: [labelingprojects/status]
  verbs: [get, patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create]
- apiGroups: [""]
  resources: [serviceaccounts, configmaps, services]
  verbs: [list, create, patch, delete]
- apiGroups: [apps]
  resources: [deployments, statefulsets]
  verbs: [list, create, patch, delete]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [list, create, patch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [list, create, patch, delete]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies, ingresses]
  verbs: [list, create, patch, delete]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [list, create, patch, delete]
- apiGroups: [keda.sh]
  resources: [scaledobjects, triggerauthentications]
  verbs: [list, create, patch, delete]
- apiGroups: [monitoring.coreos.com]
  resources: [servicemonitors, prometheusrules]
  verbs: [list, create, patch, delete]
- apiGroups: [postgresql.cnpg.io]
  resources: [clusters, scheduledbackups]
  verbs: [list, create, patch, delete]
{{- end }}

{{/*
Return the extra rules of the cluster-wide mode (kopf's CRD and namespace discovery).
*/}}
{{- define "labelhive-operator.clusterRules" -}}
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- end }}

{{/*
Return the annotations of a pre-delete hook object (the cleanup Job and its RBAC); lower weights
are created first. Deleted before a new attempt and once the Job succeeded.
*/}}
{{- define "labelhive-operator.cleanupHook" -}}
helm.sh/hook: pre-delete
helm.sh/hook-weight: {{ .weight | quote }}
helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
{{- end }}

{{/*
Return the rules of the pre-delete cleanup: find, delete and wait for every LabelingProject.
*/}}
{{- define "labelhive-operator.cleanupRules" -}}
- apiGroups: [labelhive.io]
  resources: [labelingprojects]
  verbs: [get, list, watch, delete]
{{- end }}
