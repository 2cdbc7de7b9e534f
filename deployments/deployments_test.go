// Package deployments holds what a platform team applies: the worker's sample configs, the
// Dockerfile and, beside the repository root, docker-compose.yml. Its tests check them.
package deployments

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
	for _, svc := range []string{"temporal:", "temporal-ui:", "postgresql:", "mysql:", "minio:", "oracle:", "worker:"} {
		require.Contains(t, string(out), "\n  "+svc, "service %s missing", strings.TrimSuffix(svc, ":"))
	}
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

func TestSampleConfigsParse(t *testing.T) {
	files, err := filepath.Glob("config.*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 3)
	for _, f := range files {
		_, err := config.Load(f)
		require.NoError(t, err, f)
	}
}
