{{/* The chart name, overridable. */}}
{{- define "h1bot-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The base name of every object: the release name alone when it already contains the chart name. */}}
{{- define "h1bot-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "h1bot-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable for the life of the release (a Deployment's selector is immutable). */}}
{{- define "h1bot-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "h1bot-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Standard labels on every object, plus the user's commonLabels. */}}
{{- define "h1bot-operator.labels" -}}
helm.sh/chart: {{ include "h1bot-operator.chart" . }}
{{ include "h1bot-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: h1bot
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "h1bot-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "h1bot-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
An image reference from {repository, tag, reference}: `reference` verbatim when set (skaffold passes fully
qualified references, REPO:TAG@sha256:DIGEST), otherwise REPOSITORY:TAG with the chart's appVersion as the tag.
Usage: include "h1bot-operator.imageRef" (dict "image" .Values.image "context" $)
*/}}
{{- define "h1bot-operator.imageRef" -}}
{{- if .image.reference }}
{{- .image.reference }}
{{- else }}
{{- printf "%s:%s" .image.repository (default .context.Chart.AppVersion .image.tag) }}
{{- end }}
{{- end }}

{{/* The operator watches every namespace when watchNamespaces is empty. */}}
{{- define "h1bot-operator.clusterWide" -}}
{{- if empty .Values.watchNamespaces }}true{{- end }}
{{- end }}

{{/*
The rules the operator needs wherever it serves SlackBots (in a ClusterRole when it watches all namespaces, in a
Role per watched namespace otherwise).

RBAC escalation prevention: the operator creates a Role for each bot granting its own `slackbots` get/list/watch,
`slackbots/status` get/patch and `events` create (core and events.k8s.io). Kubernetes lets a subject create a Role
only with permissions it holds itself (or with the `escalate` verb, which this chart never grants), so the
operator's own rules below must keep covering every rule it writes into a bot's Role (tests/e2e/test_chart_rbac.py
checks them against the operator's render.role).
*/}}
{{- define "h1bot-operator.namespacedRules" -}}
- apiGroups: [chatops.h1bot.dev]
  resources: [slackbots, slackbots/status]
  verbs: [get, list, watch, patch, update]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [create, get, list, watch, patch, update, delete]
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [create, get, list, watch, patch, update, delete]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [create, get, list, watch, patch, update, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [create, get, list, watch, patch, delete]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- /* What a SlackBot's spec.tools may grant its bot (h1bot_api/tools_spec.py): Kubernetes lets the operator write a
Role only with permissions it holds itself. Read-only, never secrets' values beyond the operator's own need. */}}
- apiGroups: [""]
  resources: [pods, events, services, configmaps, endpoints, persistentvolumeclaims]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
- apiGroups: [apps]
  resources: [replicasets, statefulsets, daemonsets]
  verbs: [get, list, watch]
- apiGroups: [apps]
  resources: [deployments/scale]
  verbs: [get, patch]
- apiGroups: [batch]
  resources: [jobs, cronjobs]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [get, list, watch]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch]
{{- end }}
