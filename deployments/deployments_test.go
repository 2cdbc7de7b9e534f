// Package deployments holds what a platform team applies: the worker's sample configs, the
// Dockerfile and, beside the repository root, docker-compose.yml. Its tests check them.
package deployments

import (
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

func TestSampleConfigsParse(t *testing.T) {
	files, err := filepath.Glob("config.*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 3)
	for _, f := range files {
		_, err := config.Load(f)
		require.NoError(t, err, f)
	}
}
