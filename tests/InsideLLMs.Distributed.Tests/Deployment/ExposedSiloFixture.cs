using System.Globalization;
using InsideLLMs.Distributed.Tests.Processes;

namespace InsideLLMs.Distributed.Tests.Deployment;

/// <summary>
/// One real silo process whose web port listens on every address (<c>http://0.0.0.0:port</c>, as in a pod) with
/// <c>Api:Token</c> set, shared by the tests of what such a silo admits. Requests go to 127.0.0.1: the rule depends on
/// where the silo listens, not on where a request comes from (a port-forward or a sidecar arrives on loopback too).
/// </summary>
public sealed class ExposedSiloFixture : IAsyncLifetime
{
    public const string Token = "exposed-silo-test-token-5f1c9b2e";

    private SiloProcess? _silo;

    public HttpClient Http { get; private set; } = null!;

    public SiloProcess Silo => _silo ?? throw new InvalidOperationException("The silo has not started.");

    /// <summary>
    /// What a silo listening on every address needs besides the token: instance <paramref name="instance"/>'s ports,
    /// its web port bound to 0.0.0.0 through a Kestrel endpoint (which replaces the loopback <c>Urls</c> the process
    /// helper sets), no run of its own.
    /// </summary>
    public static Dictionary<string, string> EveryAddress(int instance) => new()
    {
        ["Kestrel:Endpoints:Web:Url"] = string.Create(CultureInfo.InvariantCulture, $"http://0.0.0.0:{SiloProcess.PortsOf(instance)[2]}"),
        ["Training:AutoStart"] = "false",
        ["Compute:Workers"] = "1",
        ["Compute:TorchThreadsPerWorker"] = "1",
    };

    public async Task InitializeAsync()
    {
        var instance = LocalPorts.FreeSiloInstances(1, first: 300)[0]; // clear of the failover tests (40) and the end-to-end silo (200)
        var configuration = EveryAddress(instance);
        configuration["Api:Token"] = Token;
        _silo = await SiloProcess.StartStandaloneAsync(
            RepositoryPaths.SiloAssembly(typeof(ExposedSiloFixture).Assembly), instance, configuration,
            Directory.CreateTempSubdirectory("insidellms-exposed-").FullName, TimeSpan.FromSeconds(60));
        Http = new HttpClient { BaseAddress = _silo.WebAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (_silo is not null)
        {
            await _silo.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ExposedSiloCollection : ICollectionFixture<ExposedSiloFixture>
{
    public const string Name = "a silo listening beyond loopback";
}
