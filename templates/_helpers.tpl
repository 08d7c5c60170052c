{{/*
Return the chart name (nameOverride wins), truncated to the 63-character DNS limit.
*/}}
{{- define "labelhive.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Return the chart label value (name-version, "+" is not allowed in label values).
*/}}
{{- define "labelhive.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Return the immutable selector labels (name + instance only; selectors can never change).
*/}}
{{- define "labelhive.selectorLabels" -}}
app.kubernetes.io/name: {{ include "labelhive.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Return the standard labels of every object of the root chart.
*/}}
{{- define "labelhive.labels" -}}
{{ include "labelhive.selectorLabels" . }}
helm.sh/chart: {{ include "labelhive.chart" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: labelhive
{{- end }}

{{/*
Return the name of the LabelingProject created from values (default: the release name).
*/}}
{{- define "labelhive.projectName" -}}
{{- default .Release.Name .Values.project.name }}
{{- end }}

{{/*
Return nothing, or fail with every problem found in the values (checks JSON Schema cannot express).
*/}}
{{- define "labelhive.validateValues" -}}
{{- $messages := list -}}
{{- if and .Values.project.enabled (not (dig "database" "secretRef" "name" "" .Values.project.spec)) -}}
{{- $messages = append $messages "project.spec.database.secretRef.name is required when project.enabled is true (the Secret holding the database URL)" -}}
{{- end -}}
{{- if and .Values.project.enabled (gt (len (include "labelhive.projectName" .)) 40) -}}
{{- $messages = append $messages (printf "the LabelingProject name %q is longer than 40 characters (its children's names must stay DNS labels): set project.name" (include "labelhive.projectName" .)) -}}
{{- end -}}
{{- if $messages -}}
{{- fail (printf "\nVALUES VALIDATION:\n%s" (join "\n" $messages)) -}}
{{- end -}}
{{- end }}
