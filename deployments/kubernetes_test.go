package deployments

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/dataretire/retire/config"
	"github.com/dataretire/retire/testservices"
)

const k8sDir = "kubernetes"

// manifests is everything in deployments/kubernetes, decoded strictly into the Kubernetes
// API types: a field the API does not have (a typo, a wrong indent) fails the test.
type manifests struct {
	files map[string][]any // file -> decoded objects
	ns    *corev1.Namespace
	// The worker's.
	sa     *corev1.ServiceAccount
	cm     *corev1.ConfigMap
	secret *corev1.Secret
	deploy *appsv1.Deployment
	pdb    *policyv1.PodDisruptionBudget
	svc    *corev1.Service
	job    *batchv1.Job
	// The owners' page's.
	portal component
	// The owners directory both read.
	owners      *corev1.ConfigMap
	secrets     []*corev1.Secret
	kustomize   *kustomization
	kustomizeAt string
}

// component is one Deployment and what belongs to it.
type component struct {
	sa     *corev1.ServiceAccount
	cm     *corev1.ConfigMap
	secret *corev1.Secret
	deploy *appsv1.Deployment
	pdb    *policyv1.PodDisruptionBudget
	svc    *corev1.Service
}

// kustomization is the part of kustomize's Kustomization these manifests use. Its Go type
// lives in kustomize itself; this strict subset still catches unknown or misspelt fields.
type kustomization struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Namespace  string            `json:"namespace"`
	Labels     []kustomizeLabels `json:"labels"`
	Resources  []string          `json:"resources"`
}

type kustomizeLabels struct {
	Pairs            map[string]string `json:"pairs"`
	IncludeSelectors bool              `json:"includeSelectors,omitempty"`
	IncludeTemplates bool              `json:"includeTemplates,omitempty"`
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

func loadManifests(t *testing.T) *manifests {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	m := &manifests{files: map[string][]any{}}
	var (
		sas     []*corev1.ServiceAccount
		cms     []*corev1.ConfigMap
		deploys []*appsv1.Deployment
		pdbs    []*policyv1.PodDisruptionBudget
		svcs    []*corev1.Service
	)
	for _, p := range paths {
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		name := filepath.Base(p)
		for i, doc := range docSep.Split(string(data), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			obj := decodeStrict(t, fmt.Sprintf("%s#%d", name, i), []byte(doc))
			m.files[name] = append(m.files[name], obj)
			switch o := obj.(type) {
			case *corev1.Namespace:
				m.ns = o
			case *corev1.ServiceAccount:
				sas = append(sas, o)
			case *corev1.ConfigMap:
				cms = append(cms, o)
			case *corev1.Secret:
				m.secrets = append(m.secrets, o)
			case *appsv1.Deployment:
				deploys = append(deploys, o)
			case *policyv1.PodDisruptionBudget:
				pdbs = append(pdbs, o)
			case *corev1.Service:
				svcs = append(svcs, o)
			case *batchv1.Job:
				m.job = o
			case *kustomization:
				m.kustomize, m.kustomizeAt = o, name
			}
		}
	}
	m.sa, m.portal.sa = named(t, sas, "retire-worker"), named(t, sas, "retire-portal")
	m.cm, m.portal.cm, m.owners = named(t, cms, "retire-worker-config"), named(t, cms, "retire-portal-config"), named(t, cms, "retire-owners")
	m.secret, m.portal.secret = named(t, m.secrets, "retire-worker-secrets"), named(t, m.secrets, "retire-portal-secrets")
	m.deploy, m.portal.deploy = named(t, deploys, "retire-worker"), named(t, deploys, "retire-portal")
	m.pdb, m.portal.pdb = named(t, pdbs, "retire-worker"), named(t, pdbs, "retire-portal")
	m.svc, m.portal.svc = named(t, svcs, "retire-worker-metrics"), named(t, svcs, "retire-portal")
	for what, v := range map[string]any{"Namespace": m.ns, "Job": m.job, "Kustomization": m.kustomize} {
		require.NotNil(t, v, "no %s in %s", what, k8sDir)
	}
	return m
}

// named is the object of that name among objs; the test fails without one.
func named[T metav1.Object](t *testing.T, objs []T, name string) T {
	t.Helper()
	for _, o := range objs {
		if o.GetName() == name {
			return o
		}
	}
	var kind T
	t.Fatalf("no %T named %s in %s", kind, name, k8sDir)
	return kind
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// decodeStrict picks the API type from apiVersion and kind, and decodes into it with unknown
// and duplicate fields refused.
func decodeStrict(t *testing.T, where string, doc []byte) any {
	t.Helper()
	var tm metav1.TypeMeta
	require.NoError(t, yaml.Unmarshal(doc, &tm), where)
	var obj any
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 Namespace":
		obj = &corev1.Namespace{}
	case "v1 ServiceAccount":
		obj = &corev1.ServiceAccount{}
	case "v1 ConfigMap":
		obj = &corev1.ConfigMap{}
	case "v1 Secret":
		obj = &corev1.Secret{}
	case "v1 Service":
		obj = &corev1.Service{}
	case "apps/v1 Deployment":
		obj = &appsv1.Deployment{}
	case "policy/v1 PodDisruptionBudget":
		obj = &policyv1.PodDisruptionBudget{}
	case "batch/v1 Job":
		obj = &batchv1.Job{}
	case "kustomize.config.k8s.io/v1beta1 Kustomization":
		obj = &kustomization{}
	default:
		t.Fatalf("%s: apiVersion %q kind %q is not one this test knows: add it", where, tm.APIVersion, tm.Kind)
	}
	require.NoError(t, strictDecode(doc, obj), where)
	return obj
}

// strictDecode is sigs.k8s.io/yaml's UnmarshalStrict (unknown and duplicate fields), then the
// same JSON through sigs.k8s.io/json's strict decoder, as the API server's strict field
// validation does: encoding/json alone matches field names case-insensitively, so
// `readonlyRootFilesystem` would pass it and be ignored by the cluster.
func strictDecode(doc []byte, obj any) error {
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return err
	}
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	fresh := reflect.New(reflect.TypeOf(obj).Elem()).Interface()
	strictErrs, err := kjson.UnmarshalStrict(j, fresh)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

func TestManifestsDecodeStrictly(t *testing.T) {
	m := loadManifests(t)
	// The strict decoder really refuses what the API does not have.
	bad := []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicas: 2\n  replica: 3\n")
	require.ErrorContains(t, strictDecode(bad, &appsv1.Deployment{}), `unknown field "replica"`)
	badCase := []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n  - name: c\n    securityContext: {readonlyRootFilesystem: true}\n")
	require.NoError(t, yaml.UnmarshalStrict(badCase, &corev1.Pod{}), "encoding/json alone ignores the case")
	require.ErrorContains(t, strictDecode(badCase, &corev1.Pod{}), "readonlyRootFilesystem")
	dup := []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b, a: c}\n")
	require.Error(t, strictDecode(dup, &corev1.ConfigMap{}), "duplicate keys are refused")

	for name, objs := range m.files {
		for _, o := range objs {
			meta, ok := o.(metav1.Object)
			if !ok {
				continue // the kustomization
			}
			require.NotEmpty(t, meta.GetName(), name)
			if _, isNS := o.(*corev1.Namespace); !isNS {
				assert.Equal(t, m.ns.Name, meta.GetNamespace(), "%s: every object lives in the retire namespace", name)
			}
			assert.Equal(t, "retire", meta.GetLabels()["app.kubernetes.io/part-of"], name)
		}
	}
	assert.Equal(t, "restricted", m.ns.Labels["pod-security.kubernetes.io/enforce"])
	for _, sa := range []*corev1.ServiceAccount{m.sa, m.portal.sa} {
		require.NotNil(t, sa.AutomountServiceAccountToken, sa.Name)
		assert.False(t, *sa.AutomountServiceAccountToken, "%s never calls the Kubernetes API", sa.Name)
	}
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	m := loadManifests(t)
	k := m.kustomize
	require.Equal(t, m.ns.Name, k.Namespace)
	var want []string
	for name := range m.files {
		switch name {
		case m.kustomizeAt:
		case "secret.example.yaml":
			// Applying placeholders would overwrite the real secrets.
			require.NotContains(t, k.Resources, name, "the example Secret must never be applied")
		default:
			want = append(want, name)
		}
	}
	slices.Sort(want)
	got := slices.Clone(k.Resources)
	slices.Sort(got)
	require.Equal(t, want, got, "kustomization.yaml resources must list every manifest in %s", k8sDir)

	// kubectl apply -k, if kubectl is here: it must build these manifests as they are.
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		out, err := exec.Command(kubectl, "kustomize", k8sDir).CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
}

func TestWorkerDeployment(t *testing.T) {
	m := loadManifests(t)
	d := m.deploy
	require.NotNil(t, d.Spec.Replicas)
	assert.EqualValues(t, 2, *d.Spec.Replicas)
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	require.NoError(t, err)
	podLabels := labels.Set(d.Spec.Template.Labels)
	require.True(t, sel.Matches(podLabels), "the selector matches the pods")

	pod := d.Spec.Template.Spec
	assert.Equal(t, m.sa.Name, pod.ServiceAccountName)
	require.NotNil(t, pod.AutomountServiceAccountToken)
	assert.False(t, *pod.AutomountServiceAccountToken)
	require.NotNil(t, pod.TerminationGracePeriodSeconds)
	assert.GreaterOrEqual(t, *pod.TerminationGracePeriodSeconds, int64(30), "longer than the worker's 30s stop timeout")
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	assert.Equal(t, "ghcr.io/dataretire/retire-worker:latest", c.Image)
	require.Equal(t, []string{"--config", "/etc/retire/config.yaml"}, c.Args)
	restricted(t, "worker", pod, c)

	// Probes and metrics on :9090.
	port := containerPort(t, c, "http")
	assert.EqualValues(t, 9090, port)
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
		require.NotNil(t, p, "%s probe", name)
		require.NotNil(t, p.HTTPGet, "%s probe is an HTTP GET", name)
		assert.EqualValues(t, port, resolvePort(t, c, p.HTTPGet.Port), name)
	}
	assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	assert.Equal(t, "/healthz", c.StartupProbe.HTTPGet.Path)

	// Resources.
	for res, want := range map[corev1.ResourceName][2]string{
		corev1.ResourceCPU:    {"250m", "1"},
		corev1.ResourceMemory: {"256Mi", "512Mi"},
	} {
		req, ok := c.Resources.Requests[res]
		require.True(t, ok, "request %s", res)
		lim, ok := c.Resources.Limits[res]
		require.True(t, ok, "limit %s", res)
		assert.Equal(t, want[0], req.String(), "request %s", res)
		assert.Equal(t, want[1], lim.String(), "limit %s", res)
	}

	// Config: the ConfigMap is mounted where --config points, and holds that file.
	mount := mountFor(t, pod, c, "configMap", m.cm.Name)
	assert.True(t, mount.ReadOnly)
	cfgFile := c.Args[1]
	require.Equal(t, mount.MountPath, filepath.Dir(cfgFile))
	require.Contains(t, m.cm.Data, filepath.Base(cfgFile))
	// /tmp is writable (archive verification uses temporary files) although the root is not.
	tmp := mountFor(t, pod, c, "emptyDir", "")
	assert.Equal(t, "/tmp", tmp.MountPath)

	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		_, dup := env[e.Name]
		require.False(t, dup, "env %s set twice", e.Name)
		env[e.Name] = e
	}
	for _, name := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE"} {
		require.NotEmpty(t, env[name].Value, name)
	}
	// Every secretKeyRef names a key of the example Secret, or is optional.
	for _, e := range c.Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		assert.Equal(t, m.secret.Name, ref.Name, e.Name)
		if ref.Optional == nil || !*ref.Optional {
			assert.Contains(t, m.secret.StringData, ref.Key, "%s: key %s is not in secret.example.yaml", e.Name, ref.Key)
		}
	}

	// The PDB keeps one of them, and selects them.
	require.NotNil(t, m.pdb.Spec.MinAvailable)
	assert.Equal(t, intstr.FromInt32(1), *m.pdb.Spec.MinAvailable)
	pdbSel, err := metav1.LabelSelectorAsSelector(m.pdb.Spec.Selector)
	require.NoError(t, err)
	assert.True(t, pdbSel.Matches(podLabels))
	assert.Less(t, m.pdb.Spec.MinAvailable.IntValue(), int(*d.Spec.Replicas), "a drain can still move one")

	// The metrics Service selects the pods and targets the port that serves /metrics.
	assert.True(t, labels.SelectorFromSet(m.svc.Spec.Selector).Matches(podLabels))
	require.Len(t, m.svc.Spec.Ports, 1)
	assert.EqualValues(t, port, resolvePort(t, c, m.svc.Spec.Ports[0].TargetPort))
	assert.Equal(t, "true", m.svc.Annotations["prometheus.io/scrape"])
	assert.Equal(t, fmt.Sprint(port), m.svc.Annotations["prometheus.io/port"])
	assert.Equal(t, "/metrics", m.svc.Annotations["prometheus.io/path"])
}

// restricted checks the Pod Security "restricted" profile the namespace enforces.
func restricted(t *testing.T, what string, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	psc := pod.SecurityContext
	require.NotNil(t, psc, what)
	require.NotNil(t, psc.RunAsNonRoot, what)
	assert.True(t, *psc.RunAsNonRoot, "%s: runAsNonRoot", what)
	if psc.RunAsUser != nil {
		assert.NotZero(t, *psc.RunAsUser, what)
	}
	require.NotNil(t, psc.SeccompProfile, what)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, psc.SeccompProfile.Type, what)
	sc := c.SecurityContext
	require.NotNil(t, sc, what)
	require.NotNil(t, sc.ReadOnlyRootFilesystem, what)
	assert.True(t, *sc.ReadOnlyRootFilesystem, "%s: readOnlyRootFilesystem", what)
	require.NotNil(t, sc.AllowPrivilegeEscalation, what)
	assert.False(t, *sc.AllowPrivilegeEscalation, what)
	require.NotNil(t, sc.Capabilities, what)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop, what)
	assert.Nil(t, sc.Privileged, what)
	require.NotNil(t, c.Resources.Limits.Memory(), what)
	assert.False(t, c.Resources.Limits.Memory().IsZero(), "%s: memory limit", what)
}

func containerPort(t *testing.T, c corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port named %s", c.Name, name)
	return 0
}

func resolvePort(t *testing.T, c corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	if p.Type == intstr.String {
		return containerPort(t, c, p.StrVal)
	}
	return p.IntVal
}

// mountFor finds the container's mount of the pod volume of that kind (and name of the
// ConfigMap, when it is one).
func mountFor(t *testing.T, pod corev1.PodSpec, c corev1.Container, kind, ref string) corev1.VolumeMount {
	t.Helper()
	for _, v := range pod.Volumes {
		ok := (kind == "configMap" && v.ConfigMap != nil && v.ConfigMap.Name == ref) || (kind == "emptyDir" && v.EmptyDir != nil)
		if !ok {
			continue
		}
		for _, vm := range c.VolumeMounts {
			if vm.Name == v.Name {
				return vm
			}
		}
		t.Fatalf("volume %s is not mounted in %s", v.Name, c.Name)
	}
	t.Fatalf("no %s volume %s", kind, ref)
	return corev1.VolumeMount{}
}

// The worker config in the ConfigMap is read by the worker's own parser, and every secret it
// names comes from an env var that the Deployment fills from the Secret.
func TestConfigMapHoldsAValidWorkerConfig(t *testing.T) {
	m := loadManifests(t)
	cfg, err := config.Parse([]byte(m.cm.Data["config.yaml"]))
	require.NoError(t, err)
	require.NotEmpty(t, cfg.Connections)
	require.NotEmpty(t, cfg.DefaultStore)
	require.True(t, cfg.Notify.Enabled(), "the sample shows the notify section")

	var envs []string
	for name, c := range cfg.Connections {
		require.Empty(t, c.PasswordFile, "%s: the sample uses env vars from the Secret", name)
		envs = append(envs, c.PasswordEnv)
	}
	for _, s := range cfg.Stores {
		envs = append(envs, s.AccessKeyEnv, s.SecretKeyEnv)
	}
	envs = append(envs, cfg.Notify.Webhook.URLEnv, cfg.Notify.SMTP.PasswordEnv, cfg.Signoff.LinkSecret.PasswordEnv)
	require.True(t, cfg.Owners.Configured(), "the sample shows the owners directory")
	require.True(t, cfg.Signoff.Links(), "the sample shows personal links to the owners' page")
	deployEnv := map[string]corev1.EnvVar{}
	for _, e := range m.deploy.Spec.Template.Spec.Containers[0].Env {
		deployEnv[e.Name] = e
	}
	for _, name := range envs {
		require.NotEmpty(t, name)
		e, ok := deployEnv[name]
		require.True(t, ok, "config names env %s, which the Deployment does not set", name)
		require.NotNil(t, e.ValueFrom, "%s comes from the Secret, not a literal", name)
		require.NotNil(t, e.ValueFrom.SecretKeyRef, "%s comes from the Secret", name)
		require.Contains(t, m.secret.StringData, e.ValueFrom.SecretKeyRef.Key, name)
	}
}

func TestSecretExampleHoldsOnlyPlaceholders(t *testing.T) {
	m := loadManifests(t)
	require.Len(t, m.secrets, 2, "the worker's and the owners' page's")
	for _, sec := range m.secrets {
		require.Empty(t, sec.Data, "%s: no base64 data: every value is a visible placeholder", sec.Name)
		require.NotEmpty(t, sec.StringData, sec.Name)
		for k, v := range sec.StringData {
			assert.Contains(t, v, "CHANGE", "%s: %s must be a placeholder", sec.Name, k)
		}
		require.Contains(t, m.files["secret.example.yaml"], sec, "the example Secrets live in secret.example.yaml, which is never applied")
	}
}

// The Job registers exactly the search attributes the workflow and the CLI use, and its
// script is idempotent: run twice against a real Temporal dev server.
func TestSearchAttributesJob(t *testing.T) {
	m := loadManifests(t)
	job := m.job
	pod := job.Spec.Template.Spec
	assert.Contains(t, []corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}, pod.RestartPolicy)
	require.NotNil(t, job.Spec.TTLSecondsAfterFinished, "finished Jobs go away, so a later apply runs it again")
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	assert.True(t, strings.HasPrefix(c.Image, "temporalio/admin-tools:"), c.Image)
	restricted(t, "search-attributes job", pod, c)
	require.Equal(t, []string{"/bin/sh", "-c"}, c.Command)
	require.Len(t, c.Args, 1)
	script := c.Args[0]
	for _, sa := range testservices.SearchAttributes {
		name, typ, _ := strings.Cut(sa, "=")
		assert.Contains(t, script, name+":"+typ, "the Job registers %s as %s", name, typ)
	}

	temporal := filepath.Join(testservices.ModuleRoot(t), "bin", "temporal")
	if v := os.Getenv("RETIRE_TEMPORAL_BIN"); v != "" {
		temporal = v
	}
	_, err := os.Stat(temporal)
	require.NoError(t, err, "the temporal CLI is needed to run the Job's script: make tools")
	addr := startBareDevServer(t, temporal)

	run := func() string {
		cmd := exec.Command("/bin/sh", "-c", script)
		cmd.Env = append(os.Environ(),
			"PATH="+filepath.Dir(temporal)+string(os.PathListSeparator)+os.Getenv("PATH"),
			"TEMPORAL_ADDRESS="+addr, "TEMPORAL_NAMESPACE=default", "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}
	first := run()
	second := run()
	list, err := exec.Command(temporal, "operator", "search-attribute", "list", "--address", addr).CombinedOutput()
	require.NoError(t, err, "%s", list)
	for _, sa := range testservices.SearchAttributes {
		name, typ, _ := strings.Cut(sa, "=")
		assert.Contains(t, first, name+": created ("+typ+")")
		assert.Contains(t, second, name+": already registered ("+typ+")")
		assert.Regexp(t, `(?m)^\s*`+name+`\s+`+typ+`\s*$`, string(list))
	}
}

// startBareDevServer starts a Temporal dev server without any custom search attribute (the
// one testservices starts has them already).
func startBareDevServer(t *testing.T, bin string) string {
	t.Helper()
	addr, ui := freePort(t), freePort(t)
	host, port, _ := net.SplitHostPort(addr)
	_, uiPort, _ := net.SplitHostPort(ui)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "server", "start-dev", "--ip", host, "--port", port, "--ui-port", uiPort, "--headless", "--log-level", "error")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("Temporal dev server exited:\n%s", logs.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("Temporal dev server did not listen on %s", addr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}
