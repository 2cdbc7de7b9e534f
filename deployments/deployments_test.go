// Package deployments holds what a platform team applies: the worker's sample configs, the
// Dockerfile and, beside the repository root, docker-compose.yml. Its tests check them.
package deployments

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/config"
)

// No Docker engine runs here, so docker-compose.yml is checked the way compose itself reads
// it: `docker-compose config` resolves every service, secret and volume, or fails.
func TestComposeFileIsValid(t *testing.T) {
	bin, err := exec.LookPath("docker-compose")
	require.NoError(t, err, "docker-compose is needed to check docker-compose.yml: apt-get install docker-compose")
	out, err := exec.Command(bin, "-f", "../docker-compose.yml", "config").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, svc := range []string{"temporal:", "temporal-ui:", "postgresql:", "mysql:", "minio:", "oracle:", "worker:", "retire-portal:", "portal-keys:", "mailpit:"} {
		require.Contains(t, string(out), "\n  "+svc, "service %s missing", strings.TrimSuffix(svc, ":"))
	}
	checkComposePortal(t, out)
}

// The image build context (the repository root) leaves out everything git ignores (build
// outputs, the demo's service data, downloaded tools) and the git history itself.
func TestDockerBuildContextLeavesOutWhatGitIgnores(t *testing.T) {
	read := func(name string) []string {
		b, err := os.ReadFile(filepath.Join("..", name))
		require.NoError(t, err)
		var out []string
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				// /bin/ (git, from the root) and bin (docker, always from the root) are the same;
				// **/*.test (docker, any depth) is git's *.test.
				out = append(out, strings.TrimPrefix(strings.Trim(l, "/"), "**/"))
			}
		}
		return out
	}
	ignored := read(".dockerignore")
	require.Contains(t, ignored, ".git")
	for _, g := range read(".gitignore") {
		require.Contains(t, ignored, g, "git ignores %s, the image build context does not", g)
	}
}

// The worker's sample configs parse with the worker's parser (the portal's, config.portal.*,
// with the portal's: TestPortalSampleConfigs).
func TestSampleConfigsParse(t *testing.T) {
	files, err := filepath.Glob("config.*.yaml")
	require.NoError(t, err)
	files = slices.DeleteFunc(files, func(f string) bool { return strings.HasPrefix(f, "config.portal.") })
	require.GreaterOrEqual(t, len(files), 3)
	for _, f := range files {
		c, err := config.Load(f)
		require.NoError(t, err, f)
		if f != "config.demo.yaml" {
			assert.True(t, c.Owners.Configured(), "%s shows the owners section", f)
			assert.True(t, c.Signoff.Links(), "%s shows the signoff section with the owners' page", f)
		}
	}
}
