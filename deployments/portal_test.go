package deployments

import (
	"bytes"
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	yamlv3 "gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/dataretire/retire/config"
	"github.com/dataretire/retire/owners"
)

// portalConfig is retire-portal's config file. The portal's own type lives in package main
// (portal/config.go), which a test cannot import; TestPortalConfigTypeIsThePortals keeps this
// copy to the same keys and types, so reading the examples with KnownFields here refuses
// whatever the portal would refuse as unknown.
type portalConfig struct {
	Listen         string        `yaml:"listen"`
	PublicURL      string        `yaml:"public_url"`
	SigningKeyFile string        `yaml:"signing_key_file"`
	CookieSecret   config.Secret `yaml:"cookie_secret"`
	OIDC           *portalOIDC   `yaml:"oidc"`
	LinkSecret     config.Secret `yaml:"link_secret"`
	Owners         owners.Source `yaml:"owners"`
}

type portalOIDC struct {
	Issuer           string `yaml:"issuer"`
	ClientID         string `yaml:"client_id"`
	ClientSecretEnv  string `yaml:"client_secret_env"`
	ClientSecretFile string `yaml:"client_secret_file"`
	RedirectURL      string `yaml:"redirect_url"`
	LoginClaim       string `yaml:"login_claim"`
}

// parsePortalConfig reads a portal config as the portal does (unknown keys refused) and checks
// what the portal checks without touching files or the environment.
func parsePortalConfig(t *testing.T, where string, data []byte) portalConfig {
	t.Helper()
	var c portalConfig
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&c), where)

	_, _, err := net.SplitHostPort(c.Listen)
	require.NoError(t, err, "%s: listen", where)
	u, err := url.Parse(c.PublicURL)
	require.NoError(t, err, where)
	require.Contains(t, []string{"http", "https"}, u.Scheme, "%s: public_url", where)
	require.NotEmpty(t, u.Host, "%s: public_url", where)
	require.NotEmpty(t, c.SigningKeyFile, "%s: signing_key_file", where)
	oneSource(t, where+": cookie_secret", c.CookieSecret)
	require.True(t, c.OIDC != nil || c.LinkSecret != (config.Secret{}), "%s: somebody must be able to log in: oidc or link_secret", where)
	if c.LinkSecret != (config.Secret{}) {
		oneSource(t, where+": link_secret", c.LinkSecret)
	}
	if o := c.OIDC; o != nil {
		require.NotEmpty(t, o.Issuer, where)
		require.NotEmpty(t, o.ClientID, where)
		require.True(t, (o.ClientSecretEnv == "") != (o.ClientSecretFile == ""), "%s: oidc: one of client_secret_env or client_secret_file", where)
		if o.RedirectURL != "" {
			require.True(t, strings.HasPrefix(o.RedirectURL, strings.TrimRight(c.PublicURL, "/")+"/"), "%s: the OIDC callback is on the page", where)
		}
	}
	require.True(t, c.Owners.Configured(), "%s: the portal needs the owners directory", where)
	return c
}

func oneSource(t *testing.T, what string, s config.Secret) {
	t.Helper()
	require.True(t, (s.PasswordEnv == "") != (s.PasswordFile == ""), "%s: exactly one of password_env or password_file", what)
}

// The copy above has the keys and the types of the portal's own Config and OIDCConfig.
func TestPortalConfigTypeIsThePortals(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join("..", "portal", "*.go"))
	require.NoError(t, err)
	types := map[string]*ast.StructType{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		ast.Inspect(file, func(n ast.Node) bool {
			if ts, ok := n.(*ast.TypeSpec); ok {
				if st, ok := ts.Type.(*ast.StructType); ok {
					types[ts.Name.Name] = st
				}
			}
			return true
		})
	}
	for portalType, ours := range map[string]reflect.Type{"Config": reflect.TypeFor[portalConfig](), "OIDCConfig": reflect.TypeFor[portalOIDC]()} {
		st, ok := types[portalType]
		require.True(t, ok, "portal/ has no type %s: update portalConfig in this test to the portal's config type", portalType)
		theirs := map[string]string{}
		for _, f := range st.Fields.List {
			if f.Tag == nil {
				continue
			}
			tag, err := strconv.Unquote(f.Tag.Value)
			require.NoError(t, err)
			key, _, _ := strings.Cut(reflect.StructTag(tag).Get("yaml"), ",")
			if key == "" || key == "-" {
				continue
			}
			var b bytes.Buffer
			require.NoError(t, printExpr(&b, f.Type))
			theirs[key] = b.String()
		}
		mine := map[string]string{}
		for i := range ours.NumField() {
			f := ours.Field(i)
			key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			typ := f.Type.String()
			typ = strings.NewReplacer("*deployments.portalOIDC", "*OIDCConfig").Replace(typ)
			mine[key] = typ
		}
		assert.Equal(t, theirs, mine, "portal %s: this test's copy must have the portal's keys and types", portalType)
	}
}

// printExpr prints a field type as Go source (string, config.Secret, *OIDCConfig).
func printExpr(b *bytes.Buffer, e ast.Expr) error {
	switch x := e.(type) {
	case *ast.Ident:
		b.WriteString(x.Name)
	case *ast.SelectorExpr:
		if err := printExpr(b, x.X); err != nil {
			return err
		}
		b.WriteString("." + x.Sel.Name)
	case *ast.StarExpr:
		b.WriteString("*")
		return printExpr(b, x.X)
	case *ast.ArrayType:
		b.WriteString("[]")
		return printExpr(b, x.Elt)
	case *ast.MapType:
		b.WriteString("map[")
		if err := printExpr(b, x.Key); err != nil {
			return err
		}
		b.WriteString("]")
		return printExpr(b, x.Value)
	default:
		return fmt.Errorf("field type %T: teach printExpr", e)
	}
	return nil
}

func TestPortalDeployment(t *testing.T) {
	m := loadManifests(t)
	p := m.portal
	d := p.deploy
	require.NotNil(t, d.Spec.Replicas)
	assert.EqualValues(t, 2, *d.Spec.Replicas, "two pages: a node going away does not take the page with it")
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	require.NoError(t, err)
	podLabels := labels.Set(d.Spec.Template.Labels)
	require.True(t, sel.Matches(podLabels), "the selector matches the pods")
	workerSel, err := metav1.LabelSelectorAsSelector(m.deploy.Spec.Selector)
	require.NoError(t, err)
	require.False(t, workerSel.Matches(podLabels), "the worker's selector does not take the page's pods")
	require.False(t, sel.Matches(labels.Set(m.deploy.Spec.Template.Labels)), "nor the reverse")

	pod := d.Spec.Template.Spec
	assert.Equal(t, p.sa.Name, pod.ServiceAccountName, "the page has its own ServiceAccount")
	assert.NotEqual(t, m.sa.Name, pod.ServiceAccountName)
	require.NotNil(t, pod.AutomountServiceAccountToken)
	assert.False(t, *pod.AutomountServiceAccountToken)
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	assert.Equal(t, "ghcr.io/dataretire/retire-portal:latest", c.Image)
	require.Equal(t, []string{"--config", "/etc/retire-portal/config.yaml"}, c.Args)
	restricted(t, "portal", pod, c)
	require.Len(t, pod.InitContainers, 1)
	restricted(t, "portal's init container", pod, pod.InitContainers[0])

	port := containerPort(t, c, "http")
	for name, pr := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
		require.NotNil(t, pr, "%s probe", name)
		require.NotNil(t, pr.HTTPGet, "%s probe is an HTTP GET", name)
		assert.EqualValues(t, port, resolvePort(t, c, pr.HTTPGet.Port), name)
		assert.Equal(t, "/healthz", pr.HTTPGet.Path, name)
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, ok := c.Resources.Requests[res]
		require.True(t, ok, "request %s", res)
		lim, ok := c.Resources.Limits[res]
		require.True(t, ok, "limit %s", res)
		assert.LessOrEqual(t, req.Cmp(lim), 0, "%s: request <= limit", res)
	}

	// Config: the ConfigMap is mounted where --config points, and holds that file.
	mount := mountFor(t, pod, c, "configMap", p.cm.Name)
	assert.True(t, mount.ReadOnly)
	cfgFile := c.Args[1]
	require.Equal(t, mount.MountPath, filepath.Dir(cfgFile))
	require.Contains(t, p.cm.Data, filepath.Base(cfgFile))
	cfg := parsePortalConfig(t, "portal-configmap.yaml", []byte(p.cm.Data[filepath.Base(cfgFile)]))
	_, listen, err := net.SplitHostPort(cfg.Listen)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprint(port), listen, "the page listens on its container port")

	// The owners directory is the shared ConfigMap, where the config says.
	om := mountFor(t, pod, c, "configMap", m.owners.Name)
	assert.True(t, om.ReadOnly)
	require.Equal(t, om.MountPath, filepath.Dir(cfg.Owners.File))
	require.Contains(t, m.owners.Data, filepath.Base(cfg.Owners.File))

	// The signing key: the init container copies it from the Secret into a memory volume,
	// where signing_key_file points, readable only by the page's own user.
	keyVol := volumeAt(t, pod, c, filepath.Dir(cfg.SigningKeyFile))
	require.NotNil(t, keyVol.EmptyDir, "the key lies in a volume of this pod only")
	assert.Equal(t, corev1.StorageMediumMemory, keyVol.EmptyDir.Medium, "never on a node's disk")
	init := pod.InitContainers[0]
	script := strings.Join(append(slices.Clone(init.Command), init.Args...), " ")
	assert.Contains(t, script, "umask 077", "the copy is 0600")
	assert.Contains(t, script, "> "+cfg.SigningKeyFile)
	var secretVol *corev1.Volume
	for i, v := range pod.Volumes {
		if v.Secret != nil {
			secretVol = &pod.Volumes[i]
		}
	}
	require.NotNil(t, secretVol, "the key comes from a Secret")
	assert.Equal(t, p.secret.Name, secretVol.Secret.SecretName)
	require.Len(t, secretVol.Secret.Items, 1, "only the key is mounted, not the other secrets")
	assert.Contains(t, p.secret.StringData, secretVol.Secret.Items[0].Key)
	var from string
	for _, vm := range init.VolumeMounts {
		if vm.Name == secretVol.Name {
			from = filepath.Join(vm.MountPath, secretVol.Secret.Items[0].Path)
		}
	}
	assert.Contains(t, script, "cat "+from+" ", "the init container reads the Secret's key")
	for _, vm := range c.VolumeMounts {
		assert.NotEqual(t, secretVol.Name, vm.Name, "the page itself sees only the copy")
	}
	tmp := volumeAt(t, pod, c, "/tmp")
	require.NotNil(t, tmp.EmptyDir)

	// Temporal and the secrets: every *_env of the config is set from the page's own Secret.
	env := envOf(t, c)
	for _, name := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE"} {
		require.NotEmpty(t, env[name].Value, name)
	}
	secretRefsResolve(t, c, p.secret)
	envs := []string{cfg.CookieSecret.PasswordEnv, cfg.LinkSecret.PasswordEnv}
	if cfg.OIDC != nil {
		envs = append(envs, cfg.OIDC.ClientSecretEnv)
	}
	for _, name := range envs {
		require.NotEmpty(t, name, "the Kubernetes config takes its secrets from env vars")
		e, ok := env[name]
		require.True(t, ok, "config names env %s, which the Deployment does not set", name)
		require.NotNil(t, e.ValueFrom, "%s comes from the Secret, not a literal", name)
		require.NotNil(t, e.ValueFrom.SecretKeyRef, name)
	}

	// The PDB keeps one page up, and selects its pods only.
	require.NotNil(t, p.pdb.Spec.MinAvailable)
	assert.Equal(t, intstr.FromInt32(1), *p.pdb.Spec.MinAvailable)
	pdbSel, err := metav1.LabelSelectorAsSelector(p.pdb.Spec.Selector)
	require.NoError(t, err)
	assert.True(t, pdbSel.Matches(podLabels))
	assert.False(t, pdbSel.Matches(labels.Set(m.deploy.Spec.Template.Labels)))
	assert.Less(t, p.pdb.Spec.MinAvailable.IntValue(), int(*d.Spec.Replicas), "a drain can still move one")

	// The Service selects the page's pods, not the worker's, and targets the page's port.
	assert.True(t, labels.SelectorFromSet(p.svc.Spec.Selector).Matches(podLabels))
	assert.False(t, labels.SelectorFromSet(p.svc.Spec.Selector).Matches(labels.Set(m.deploy.Spec.Template.Labels)))
	assert.False(t, labels.SelectorFromSet(m.svc.Spec.Selector).Matches(podLabels), "the worker's metrics Service does not take the page")
	require.Len(t, p.svc.Spec.Ports, 1)
	assert.EqualValues(t, port, resolvePort(t, c, p.svc.Spec.Ports[0].TargetPort))
}

// The page and the worker agree: the worker's links point at the page, both hold a link
// secret from their own Secret under the same key name, and both read the same directory,
// mounted from the same ConfigMap.
func TestPortalConfigMatchesTheWorkers(t *testing.T) {
	m := loadManifests(t)
	worker, err := config.Parse([]byte(m.cm.Data["config.yaml"]))
	require.NoError(t, err)
	portal := parsePortalConfig(t, "portal-configmap.yaml", []byte(m.portal.cm.Data["config.yaml"]))

	assert.Equal(t, strings.TrimRight(portal.PublicURL, "/"), strings.TrimRight(worker.Signoff.PortalURL, "/"), "the mails link to the page")
	assert.True(t, worker.Signoff.Links())
	keys, err := worker.Signoff.Keys()
	require.NoError(t, err)
	assert.NotEmpty(t, keys, "the worker trusts the page's key")
	assert.Equal(t, worker.Owners, portal.Owners, "the same owners directory")

	we, pe := envOf(t, m.deploy.Spec.Template.Spec.Containers[0]), envOf(t, m.portal.deploy.Spec.Template.Spec.Containers[0])
	wl, pl := we[worker.Signoff.LinkSecret.PasswordEnv], pe[portal.LinkSecret.PasswordEnv]
	require.NotNil(t, wl.ValueFrom, "the worker's link secret comes from its Secret")
	require.NotNil(t, pl.ValueFrom, "the page's link secret comes from its Secret")
	assert.Equal(t, wl.ValueFrom.SecretKeyRef.Key, pl.ValueFrom.SecretKeyRef.Key, "one key name for the one value both must hold")
	assert.NotEqual(t, wl.ValueFrom.SecretKeyRef.Name, pl.ValueFrom.SecretKeyRef.Name, "each reads its own Secret")
	_, ok := m.secret.StringData["signing-key.pem"]
	assert.False(t, ok, "the worker's Secret never holds the page's signing key")

	for _, d := range []string{"worker", "portal"} {
		dep := m.deploy
		if d == "portal" {
			dep = m.portal.deploy
		}
		pod := dep.Spec.Template.Spec
		om := mountFor(t, pod, pod.Containers[0], "configMap", m.owners.Name)
		assert.Equal(t, filepath.Dir(worker.Owners.File), om.MountPath, "%s: the directory is mounted where the configs say", d)
	}
}

// The shared owners ConfigMap is a directory the worker's own parser accepts.
func TestOwnersConfigMapIsAValidDirectory(t *testing.T) {
	m := loadManifests(t)
	require.Len(t, m.owners.Data, 1)
	for name, doc := range m.owners.Data {
		dir := loadDirectory(t, name, doc)
		require.NotEmpty(t, dir.People)
		worker, err := config.Parse([]byte(m.cm.Data["config.yaml"]))
		require.NoError(t, err)
		for conn := range worker.Connections {
			assert.NotEmpty(t, ownersOn(dir, conn), "nobody in the sample directory owns anything on %s", conn)
		}
	}
}

func loadDirectory(t *testing.T, name, doc string) *owners.Directory {
	t.Helper()
	f := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(f, []byte(doc), 0o600))
	dir, err := owners.Load(context.Background(), owners.Source{File: f})
	require.NoError(t, err, name)
	return dir
}

func ownersOn(dir *owners.Directory, conn string) []string {
	var out []string
	for _, p := range dir.People {
		for _, o := range p.Owns {
			if o.Connection == conn {
				out = append(out, p.ID)
			}
		}
	}
	return out
}

func envOf(t *testing.T, c corev1.Container) map[string]corev1.EnvVar {
	t.Helper()
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		_, dup := env[e.Name]
		require.False(t, dup, "%s: env %s set twice", c.Name, e.Name)
		env[e.Name] = e
	}
	return env
}

// secretRefsResolve: every secretKeyRef of c names a key of secret, or is optional.
func secretRefsResolve(t *testing.T, c corev1.Container, secret *corev1.Secret) {
	t.Helper()
	for _, e := range c.Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		assert.Equal(t, secret.Name, ref.Name, e.Name)
		if ref.Optional == nil || !*ref.Optional {
			assert.Contains(t, secret.StringData, ref.Key, "%s: key %s is not in secret.example.yaml", e.Name, ref.Key)
		}
	}
}

// volumeAt is the pod volume c mounts at dir.
func volumeAt(t *testing.T, pod corev1.PodSpec, c corev1.Container, dir string) corev1.Volume {
	t.Helper()
	for _, vm := range c.VolumeMounts {
		if vm.MountPath != dir {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == vm.Name {
				return v
			}
		}
	}
	t.Fatalf("%s mounts nothing at %s", c.Name, dir)
	return corev1.Volume{}
}

// The portal's sample configs parse as the portal reads them, and match the worker's samples.
func TestPortalSampleConfigs(t *testing.T) {
	files, err := filepath.Glob("config.portal.*.yaml")
	require.NoError(t, err)
	require.Len(t, files, 3, "config.portal.example.yaml, config.portal.compose.yaml and config.portal.demo.yaml")
	pairs := map[string]string{"config.portal.example.yaml": "config.example.yaml", "config.portal.compose.yaml": "config.compose.yaml", "config.portal.demo.yaml": "config.demo.yaml"}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		p := parsePortalConfig(t, f, data)
		w, err := config.Load(pairs[f])
		require.NoError(t, err, pairs[f])
		assert.Equal(t, strings.TrimRight(p.PublicURL, "/"), strings.TrimRight(w.Signoff.PortalURL, "/"), "%s: the worker's links point at this page", f)
		assert.Equal(t, w.Owners, p.Owners, "%s: the same owners directory as %s", f, pairs[f])
		assert.True(t, w.Signoff.Links(), "%s: the worker signs links", pairs[f])
		assert.NotEqual(t, config.Secret{}, p.LinkSecret, "%s: the page takes them", f)
	}
	owners, err := os.ReadFile("owners.compose.yaml")
	require.NoError(t, err)
	dir := loadDirectory(t, "owners.compose.yaml", string(owners))
	assert.NotEmpty(t, ownersOn(dir, "local"), "somebody owns the compose databases")
}

var buildLine = regexp.MustCompile(`go build [^&\n]*-o (/out/\S+) (\./\S+)`)

// The Dockerfile builds every command, the portal image runs the portal, and the last stage
// (the default target, which docker-compose.yml's worker and CLI build) is the worker's.
func TestDockerfileBuildsEveryBinary(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	require.NoError(t, err)
	df := string(b)
	built := map[string]string{}
	for _, m := range buildLine.FindAllStringSubmatch(df, -1) {
		built[m[1]] = m[2]
		st, err := os.Stat(filepath.Join("..", m[2]))
		require.NoError(t, err, "the Dockerfile builds %s", m[2])
		require.True(t, st.IsDir())
	}
	assert.Equal(t, map[string]string{"/out/retire-worker": "./worker", "/out/retire": "./starter", "/out/retire-portal": "./portal"}, built)

	stages := regexp.MustCompile(`(?m)^FROM \S+ AS (\S+)$`).FindAllStringSubmatch(df, -1)
	require.NotEmpty(t, stages)
	var names []string
	for _, s := range stages {
		names = append(names, s[1])
	}
	assert.Equal(t, []string{"build", "portal", "worker"}, names)
	portal := df[strings.Index(df, " AS portal"):strings.Index(df, " AS worker")]
	assert.Contains(t, portal, "COPY --from=build /out/retire-portal /usr/local/bin/")
	assert.Contains(t, portal, `ENTRYPOINT ["/usr/local/bin/retire-portal"]`)
	assert.Contains(t, portal, "USER nonroot")
	assert.NotContains(t, portal, "/out/retire-worker", "the page's image has only the page")
	worker := df[strings.Index(df, " AS worker"):]
	assert.Contains(t, worker, `ENTRYPOINT ["/usr/local/bin/retire-worker"]`)
}
