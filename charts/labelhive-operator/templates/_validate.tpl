{{/*
Return nothing, or fail with every problem found in the values (checks JSON Schema cannot express).
*/}}
{{- define "labelhive-operator.validateValues" -}}
{{- $messages := list -}}
{{- if and (eq .Values.rbac.scope "cluster") .Values.watchNamespaces -}}
{{- $messages = append $messages "watchNamespaces needs rbac.scope=namespace (the cluster-wide operator watches every namespace)" -}}
{{- end -}}
{{- if and .Values.image.tag .Values.image.digest -}}
{{- $messages = append $messages "set image.tag or image.digest, not both" -}}
{{- end -}}
{{- if $messages -}}
{{- fail (printf "\nVALUES VALIDATION:\n%s" (join "\n" $messages)) -}}
{{- end -}}
{{- end }}
