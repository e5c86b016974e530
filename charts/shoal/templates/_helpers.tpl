{{/* Names, labels, the resolved queue list and the Redis wiring shared by every template. */}}

{{- define "shoal.name" -}}
{{- regexReplaceAll "[-.]+$" (default .Chart.Name .Values.nameOverride | trunc 63) "" -}}
{{- end -}}

{{- define "shoal.fullname" -}}
{{- $full := "" -}}
{{- if .Values.fullnameOverride -}}
{{- $full = .Values.fullnameOverride -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- $full = .Release.Name -}}
{{- else -}}
{{- $full = printf "%s-%s" .Release.Name $name -}}
{{- end -}}
{{- end -}}
{{- /* Cut to 40 characters; a name must not end in - or . (so not in several of them either). */ -}}
{{- regexReplaceAll "[-.]+$" ($full | trunc 40) "" -}}
{{- end -}}

{{- define "shoal.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels; call with (dict "root" $ "component" "worker"). */}}
{{- define "shoal.selectorLabels" -}}
app.kubernetes.io/name: {{ include "shoal.name" .root | quote }}
app.kubernetes.io/instance: {{ .root.Release.Name | quote }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "shoal.labels" -}}
{{ include "shoal.selectorLabels" . }}
helm.sh/chart: {{ include "shoal.chart" .root }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: shoal
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* An image reference from {repository, tag, digest} with the platform image as default. */}}
{{- define "shoal.image" -}}
{{- $img := .image | default dict -}}
{{- $base := .root.Values.image -}}
{{- $repo := $img.repository | default $base.repository -}}
{{- $digest := "" -}}
{{- $tag := "" -}}
{{- if $img.repository -}}
{{- $digest = $img.digest | default "" -}}
{{- $tag = $img.tag | default .root.Chart.AppVersion -}}
{{- else -}}
{{- $digest = $img.digest | default $base.digest -}}
{{- $tag = $img.tag | default $base.tag | default .root.Chart.AppVersion -}}
{{- end -}}
{{- if $digest -}}
{{- printf "%s@%s" $repo $digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (toString $tag) -}}
{{- end -}}
{{- end -}}

{{/* A Kubernetes-safe name part from a Celery queue name (which may hold _ . :). */}}
{{- define "shoal.queueSlug" -}}
{{- regexReplaceAll "[^a-z0-9-]" (lower .) "-" | trimAll "-" -}}
{{- end -}}

{{/*
Merge `over` onto `base` key by key (hasKey, so 0, false and null given by the user win, which
sprig's mergeOverwrite gets wrong); maps merge recursively, lists are replaced. Returns JSON.
*/}}
{{- define "shoal.merge" -}}
{{- $out := dict -}}
{{- $over := .over | default dict -}}
{{- range $k, $v := .base -}}
{{- if hasKey $over $k -}}
{{- $ov := get $over $k -}}
{{- if and (kindIs "map" $v) (kindIs "map" $ov) -}}
{{- $_ := set $out $k (include "shoal.merge" (dict "base" $v "over" $ov) | fromJson) -}}
{{- else -}}
{{- $_ := set $out $k $ov -}}
{{- end -}}
{{- else -}}
{{- $_ := set $out $k $v -}}
{{- end -}}
{{- end -}}
{{- range $k, $v := $over -}}
{{- if not (hasKey $.base $k) -}}
{{- $_ := set $out $k $v -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* Drop keys whose value is null (optional fields left out). Returns JSON. */}}
{{- define "shoal.compact" -}}
{{- $out := dict -}}
{{- range $k, $v := . -}}
{{- if kindIs "map" $v -}}
{{- $_ := set $out $k (include "shoal.compact" $v | fromJson) -}}
{{- else if not (kindIs "invalid" $v) -}}
{{- $_ := set $out $k $v -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* The CPU request as a whole number of CPUs, rounded up, at least 1. */}}
{{- define "shoal.cpuCount" -}}
{{- $cpu := toString (. | default "1") -}}
{{- $n := 1.0 -}}
{{- if hasSuffix "m" $cpu -}}
{{- $n = divf (trimSuffix "m" $cpu | float64) 1000 -}}
{{- else -}}
{{- $n = float64 $cpu -}}
{{- end -}}
{{- max 1 (ceil $n | int) -}}
{{- end -}}

{{/*
The queues with every default resolved, as JSON {"queues": [...]}. Each entry gains `slug`,
`deployment` and `index`; `concurrency` and `prefetchMultiplier` follow the pool's defaults.
*/}}
{{- define "shoal.queues" -}}
{{- $root := . -}}
{{- $out := list -}}
{{- range $i, $q := .Values.queues -}}
{{- $m := include "shoal.merge" (dict "base" $root.Values.queueDefaults "over" $q) | fromJson -}}
{{- $pool := get $root.Values.pools $m.pool -}}
{{- if not (hasKey $m "resources") -}}
{{- $_ := set $m "resources" $pool.resources -}}
{{- end -}}
{{- if or (not (hasKey $m "concurrency")) (kindIs "invalid" $m.concurrency) -}}
{{- if kindIs "invalid" $pool.concurrency -}}
{{- $req := (($m.resources).requests) | default dict -}}
{{- $_ := set $m "concurrency" (include "shoal.cpuCount" (get $req "cpu") | int) -}}
{{- else -}}
{{- $_ := set $m "concurrency" ($pool.concurrency | int) -}}
{{- end -}}
{{- end -}}
{{- if or (not (hasKey $m "prefetchMultiplier")) (kindIs "invalid" $m.prefetchMultiplier) -}}
{{- $_ := set $m "prefetchMultiplier" $pool.prefetchMultiplier -}}
{{- end -}}
{{- $slug := include "shoal.queueSlug" $m.name -}}
{{- $_ := set $m "slug" $slug -}}
{{- $_ := set $m "index" $i -}}
{{- $_ := set $m "deployment" (regexReplaceAll "-+$" (printf "%s-worker-%s" (include "shoal.fullname" $root) $slug | trunc 63) "") -}}
{{- $out = append $out $m -}}
{{- end -}}
{{- toJson (dict "queues" $out) -}}
{{- end -}}

{{/* The Redis URL the pods use, with the CA file appended for TLS. */}}
{{- define "shoal.redisUrl" -}}
{{- $url := .Values.redis.url -}}
{{- if .Values.redis.internal.enabled -}}
{{- $url = printf "redis://%s-redis:6379/0" (include "shoal.fullname" .) -}}
{{- end -}}
{{- if and .Values.redis.tls.enabled .Values.redis.tls.caSecret -}}
{{- $sep := ternary "&" "?" (contains "?" $url) -}}
{{- $url = printf "%s%sssl_cert_reqs=required&ssl_ca_certs=/var/run/secrets/redis-tls/%s" $url $sep .Values.redis.tls.caKey -}}
{{- end -}}
{{- $url -}}
{{- end -}}

{{- define "shoal.redisPasswordFile" -}}
/var/run/secrets/redis/password
{{- end -}}

{{/* Volumes for the Redis password and CA (if configured). */}}
{{- define "shoal.redisVolumes" -}}
{{- if .Values.redis.existingSecret }}
- name: redis-password
  secret:
    secretName: {{ .Values.redis.existingSecret }}
    items:
      - key: {{ .Values.redis.existingSecretKey }}
        path: password
{{- end }}
{{- if and .Values.redis.tls.enabled .Values.redis.tls.caSecret }}
- name: redis-tls
  secret:
    secretName: {{ .Values.redis.tls.caSecret }}
    items:
      - key: {{ .Values.redis.tls.caKey }}
        path: {{ .Values.redis.tls.caKey }}
{{- end }}
{{- end -}}

{{- define "shoal.redisVolumeMounts" -}}
{{- if .Values.redis.existingSecret }}
- name: redis-password
  mountPath: /var/run/secrets/redis
  readOnly: true
{{- end }}
{{- if and .Values.redis.tls.enabled .Values.redis.tls.caSecret }}
- name: redis-tls
  mountPath: /var/run/secrets/redis-tls
  readOnly: true
{{- end }}
{{- end -}}

{{/* The Sentry DSN, mounted from a Secret when configured. */}}
{{- define "shoal.sentryVolumes" -}}
{{- if .Values.sentry.existingSecret }}
- name: sentry-dsn
  secret:
    secretName: {{ .Values.sentry.existingSecret }}
    items:
      - key: {{ .Values.sentry.existingSecretKey }}
        path: dsn
{{- end }}
{{- end -}}

{{- define "shoal.sentryVolumeMounts" -}}
{{- if .Values.sentry.existingSecret }}
- name: sentry-dsn
  mountPath: /var/run/secrets/sentry
  readOnly: true
{{- end }}
{{- end -}}

{{/*
Environment every shoal pod (worker, beat) reads: Redis, its password and the Sentry DSN as
mounted files (never a secret in the environment), and the priority lists.
*/}}
{{- define "shoal.redisEnv" -}}
- name: SHOAL_REDIS_URL
  value: {{ include "shoal.redisUrl" . | quote }}
{{- if .Values.redis.existingSecret }}
- name: SHOAL_REDIS_PASSWORD_FILE
  value: {{ include "shoal.redisPasswordFile" . }}
{{- end }}
{{- if .Values.sentry.existingSecret }}
- name: SHOAL_SENTRY_DSN_FILE
  value: /var/run/secrets/sentry/dsn
{{- end }}
- name: SHOAL_PRIORITY_STEPS
  value: {{ join "," .Values.priority.steps | quote }}
{{- if ne .Values.priority.separator "\x06\x16" }}
- name: SHOAL_PRIORITY_SEP
  value: {{ .Values.priority.separator | quote }}
{{- end }}
{{- end -}}

{{- define "shoal.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end -}}

{{- define "shoal.securityContext" -}}
{{- toYaml .Values.securityContext }}
{{- end -}}

{{- define "shoal.workloadServiceAccount" -}}
{{- printf "%s-workload" (include "shoal.fullname" .) -}}
{{- end -}}

{{- define "shoal.autoscalerServiceAccount" -}}
{{- printf "%s-autoscaler" (include "shoal.fullname" .) -}}
{{- end -}}

{{- define "shoal.leaseName" -}}
{{- .Values.autoscaler.leaderElection.leaseName | default (printf "%s-autoscaler" (include "shoal.fullname" .)) -}}
{{- end -}}

{{/*
The Redis URL with the password as $(SHOAL_REDIS_PASSWORD), which Kubernetes expands from the
Secret at container start, for Flower, which takes no password file (shoal's own pods read the
mounted file).
*/}}
{{- define "shoal.redisUrlWithPasswordRef" -}}
{{- $url := include "shoal.redisUrl" . -}}
{{- if and .Values.redis.existingSecret (not (regexMatch "^[a-z]+://[^/]*@" $url)) -}}
{{- $url = regexReplaceAll "^([a-z]+)://" $url "${1}://:$(SHOAL_REDIS_PASSWORD)@" -}}
{{- end -}}
{{- $url -}}
{{- end -}}

{{- define "shoal.redisPasswordEnv" -}}
{{- if .Values.redis.existingSecret }}
- name: SHOAL_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.existingSecret }}
      key: {{ .Values.redis.existingSecretKey }}
{{- end }}
{{- end -}}
