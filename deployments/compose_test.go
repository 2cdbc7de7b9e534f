package deployments

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	yamlv3 "gopkg.in/yaml.v3"

	"github.com/dataretire/retire/config"
)

// composeService is the part of a resolved service (`docker-compose config`) checked here.
type composeService struct {
	Build struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
		Target     string `yaml:"target"`
	} `yaml:"build"`
	Command    []string `yaml:"command"`
	Entrypoint []string `yaml:"entrypoint"`
	Volumes    []string `yaml:"volumes"`
	Ports      []any    `yaml:"ports"`
}

// mounts maps each container path to what is mounted there: a named volume, or a file of the
// repository relative to it.
func (s composeService) mounts(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		require.GreaterOrEqual(t, len(parts), 2, v)
		src := parts[0]
		if filepath.IsAbs(src) {
			rel, err := filepath.Rel(root, src)
			require.NoError(t, err)
			src = "./" + rel
		}
		out[parts[1]] = src
	}
	return out
}

// at finds what holds file in the container: the mount whose path is the file or its folder.
func at(mounts map[string]string, file string) (src, rest string, ok bool) {
	if src, ok := mounts[file]; ok {
		return src, "", true
	}
	for dir := path.Dir(file); dir != "/" && dir != "."; dir = path.Dir(dir) {
		if src, ok := mounts[dir]; ok {
			return src, strings.TrimPrefix(file, dir+"/"), true
		}
	}
	return "", "", false
}

// checkComposePortal follows every file the page's and the worker's compose configs name to
// the volume or repository file that holds it, and checks that it is there: the configs and
// the directory are the repository's, and the keys and secrets are what portal-keys writes
// into the volumes it shares with them, the private key never reaching the worker.
func checkComposePortal(t *testing.T, resolved []byte) {
	t.Helper()
	var doc struct {
		Services map[string]composeService `yaml:"services"`
	}
	require.NoError(t, yamlv3.Unmarshal(resolved, &doc))
	portal, worker, keys := doc.Services["retire-portal"], doc.Services["worker"], doc.Services["portal-keys"]
	root := portal.Build.Context
	require.NotEmpty(t, root)
	assert.Equal(t, "portal", portal.Build.Target, "the page's own image")
	assert.Empty(t, worker.Build.Target, "the worker is the Dockerfile's last stage")
	require.Len(t, keys.Command, 1)
	script := keys.Command[0]
	keysAt := map[string]string{} // volume -> where portal-keys mounts it
	for dst, src := range keys.mounts(t, root) {
		keysAt[src] = dst
	}
	written := func(what, volume, rest string) {
		t.Helper()
		dir, ok := keysAt[volume]
		require.True(t, ok, "%s is on volume %s, which portal-keys does not write", what, volume)
		// Written by a redirection, or by retire-portal keygen <file>.
		assert.Regexp(t, `(> |keygen )`+regexp.QuoteMeta(path.Join(dir, rest))+`(\s|$)`, script, "%s: portal-keys writes %s", what, path.Join(dir, rest))
	}

	// The page.
	require.Len(t, portal.Command, 2)
	require.Equal(t, "--config", portal.Command[0])
	pm := portal.mounts(t, root)
	src, rest, ok := at(pm, portal.Command[1])
	require.True(t, ok, "the page's --config is mounted")
	require.Empty(t, rest)
	data, err := os.ReadFile(filepath.Join("..", src))
	require.NoError(t, err)
	pc := parsePortalConfig(t, src, data)
	assert.Equal(t, "./deployments/config.portal.compose.yaml", src)
	for what, file := range map[string]string{
		"signing_key_file": pc.SigningKeyFile, "cookie_secret": pc.CookieSecret.PasswordFile, "link_secret": pc.LinkSecret.PasswordFile,
	} {
		require.NotEmpty(t, file, "%s: compose keeps secrets in files", what)
		vol, rest, ok := at(pm, file)
		require.True(t, ok, "page's %s %s is not mounted", what, file)
		written("page's "+what, vol, rest)
	}
	ownersSrc, _, ok := at(pm, pc.Owners.File)
	require.True(t, ok, "the page's owners directory is mounted")
	assert.Equal(t, "./deployments/owners.compose.yaml", ownersSrc)
	published := false
	for _, p := range portal.Ports {
		published = published || strings.Contains(toString(p), "8088")
	}
	assert.True(t, published, "the page is reachable at its public_url's port")

	// The worker.
	wm := worker.mounts(t, root)
	wsrc, _, ok := at(wm, "/etc/retire/config.yaml")
	require.True(t, ok)
	wc, err := config.Load(filepath.Join("..", wsrc))
	require.NoError(t, err)
	wownersSrc, _, ok := at(wm, wc.Owners.File)
	require.True(t, ok, "the worker's owners directory is mounted")
	assert.Equal(t, ownersSrc, wownersSrc, "the page and the worker read one directory")
	for what, file := range map[string]string{"link_secret": wc.Signoff.LinkSecret.PasswordFile, "portal_key_files": wc.Signoff.PortalKeyFiles[0]} {
		vol, rest, ok := at(wm, file)
		require.True(t, ok, "worker's %s %s is not mounted", what, file)
		written("worker's "+what, vol, rest)
	}
	keyVol, _, _ := at(pm, pc.SigningKeyFile)
	for _, v := range wm {
		assert.NotEqual(t, keyVol, v, "the worker never mounts the page's private key")
	}
	linkVolP, linkP, _ := at(pm, pc.LinkSecret.PasswordFile)
	linkVolW, linkW, _ := at(wm, wc.Signoff.LinkSecret.PasswordFile)
	assert.Equal(t, linkVolP+"/"+linkP, linkVolW+"/"+linkW, "one link secret for both")
}

func toString(v any) string {
	b, _ := yamlv3.Marshal(v)
	return string(b)
}
