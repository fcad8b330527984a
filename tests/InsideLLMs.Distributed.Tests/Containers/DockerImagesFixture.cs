using System.Diagnostics;
using InsideLLMs.Distributed.Tests.Processes;

namespace InsideLLMs.Distributed.Tests.Containers;

/// <summary>
/// A Docker engine and the images the container tests run, made here because nothing can be pulled: the engine is
/// started (as root, its pid kept and stopped afterwards) when none answers; the base image is made by
/// <c>deploy/docker/build-base-image.sh</c> (debootstrap from Debian's package mirror plus this machine's .NET runtime)
/// when it is missing; the silo and client images are built by <c>deploy/docker/build-images.sh</c> from this checkout
/// every time; Redis is Debian's redis-server installed on the base image. A missing engine fails with the reason.
/// </summary>
public sealed class DockerImagesFixture : IAsyncLifetime
{
    public const string BaseImage = "insidellms/dotnet-base:bookworm";
    public const string Tag = "container-test";
    public const string SiloImage = "insidellms/silo:" + Tag;
    public const string RedisImage = "insidellms/redis:" + Tag;

    private const string DockerdPidFile = "/run/insidellms-test-dockerd.pid";
    private Process? _dockerd;

    /// <summary>What was built and how long it took, for the test's output.</summary>
    public List<string> Timeline { get; } = [];

    public async Task InitializeAsync()
    {
        await EnsureEngineAsync();
        var root = RepositoryPaths.Root();
        var scripts = Path.Combine(root, "deploy", "docker");

        if ((await Docker.TryAsync(TimeSpan.FromSeconds(30), "image", "inspect", BaseImage)).ExitCode != 0)
        {
            await TimedAsync($"base image {BaseImage} (debootstrap)", () => ScriptAsync(Path.Combine(scripts, "build-base-image.sh"), [BaseImage], TimeSpan.FromMinutes(10)));
        }

        await TimedAsync($"{SiloImage} and insidellms/client:{Tag} (publish and build)", () =>
            ScriptAsync(Path.Combine(scripts, "build-images.sh"), [BaseImage, Tag], TimeSpan.FromMinutes(15)));

        if ((await Docker.TryAsync(TimeSpan.FromSeconds(30), "image", "inspect", RedisImage)).ExitCode != 0)
        {
            var context = Directory.CreateTempSubdirectory("insidellms-redis-image-").FullName;
            try
            {
                await File.WriteAllTextAsync(Path.Combine(context, "Dockerfile"),
                    $"FROM {BaseImage}\n" +
                    "RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends redis-server && rm -rf /var/lib/apt/lists/*\n" +
                    "EXPOSE 6379\n" +
                    "CMD [\"redis-server\", \"--bind\", \"0.0.0.0\", \"--protected-mode\", \"no\", \"--save\", \"\", \"--appendonly\", \"no\"]\n");
                await TimedAsync($"{RedisImage} (Debian's redis-server)", () => Docker.RunAsync(TimeSpan.FromMinutes(10), "build", "-q", "-t", RedisImage, context));
            }
            finally
            {
                Directory.Delete(context, recursive: true);
            }
        }
    }

    public async Task DisposeAsync()
    {
        if (_dockerd is { } dockerd)
        {
            if (!dockerd.HasExited)
            {
                // SIGTERM, so the engine stops the containerd it started; the tests removed their containers already.
                await Docker.ProcessAsync("kill", ["-TERM", dockerd.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10), environment: null);
                using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                try
                {
                    await dockerd.WaitForExitAsync(patience.Token);
                }
                catch (OperationCanceledException)
                {
                    dockerd.Kill(entireProcessTree: true);
                }
            }

            dockerd.Dispose();
            File.Delete(DockerdPidFile);
        }
    }

    private async Task EnsureEngineAsync()
    {
        if (await AnswersAsync())
        {
            return;
        }

        const string dockerd = "/usr/sbin/dockerd";
        if (!File.Exists(dockerd) || Environment.UserName != "root")
        {
            throw new InvalidOperationException(
                "No Docker engine answers, and this test cannot start one (it needs root and Debian's docker.io: apt-get install docker.io iptables debootstrap; ./test.sh installs them).");
        }

        var start = new ProcessStartInfo(dockerd)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("--pidfile");
        start.ArgumentList.Add(DockerdPidFile);
        _dockerd = Process.Start(start) ?? throw new InvalidOperationException("Could not start dockerd.");
        _dockerd.OutputDataReceived += (_, _) => { };
        _dockerd.ErrorDataReceived += (_, _) => { };
        _dockerd.BeginOutputReadLine();
        _dockerd.BeginErrorReadLine();
        var waited = Stopwatch.StartNew();
        while (!await AnswersAsync())
        {
            if (_dockerd.HasExited || waited.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new InvalidOperationException($"dockerd did not answer within 60 s (exited: {_dockerd.HasExited}).");
            }

            await Task.Delay(250);
        }

        Timeline.Add($"started dockerd (pid {_dockerd.Id}) in {waited.Elapsed.TotalSeconds:F1} s");
    }

    private static async Task<bool> AnswersAsync()
    {
        try
        {
            return (await Docker.TryAsync(TimeSpan.FromSeconds(20), "info", "--format", "{{.ServerVersion}}")).ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new InvalidOperationException("The docker command is not installed (Debian: apt-get install docker.io; ./test.sh installs it).");
        }
    }

    private static async Task ScriptAsync(string script, string[] arguments, TimeSpan timeout)
    {
        var result = await Docker.ProcessAsync("bash", [script, .. arguments], timeout, new Dictionary<string, string> { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1" });
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(script)} {string.Join(' ', arguments)} exited {result.ExitCode}:\n{Tail(result.Error)}\n{Tail(result.Output)}");
        }
    }

    private async Task TimedAsync(string what, Func<Task> build)
    {
        var watch = Stopwatch.StartNew();
        await build();
        Timeline.Add($"built {what} in {watch.Elapsed.TotalSeconds:F0} s");
    }

    private static string Tail(string text) => text.Length <= 4000 ? text : text[^4000..];
}
