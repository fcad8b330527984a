using InsideLLMs.Distributed.Contracts;
using InsideLLMs.Distributed.Silo.Extensions;
using Microsoft.Extensions.Configuration;

namespace InsideLLMs.Distributed.Tests.Hosting;

public sealed class SiloSettingsTests
{
    [Fact]
    public void From_EmptyConfiguration_IsTheFirstLocalSiloWithLocalhostClusteringAndMemoryStorage()
    {
        var settings = SiloSettings.From(Configuration());

        Assert.Null(settings.Instance);
        Assert.Equal((11111, 30000, 11111), (settings.SiloPort, settings.GatewayPort, settings.PrimaryPort));
        Assert.Null(settings.WebUrl);
        Assert.Equal(ClusteringKind.Localhost, settings.Clustering);
        Assert.Equal(StorageKind.Memory, settings.Storage);
        Assert.Equal((ClusterNames.ClusterId, ClusterNames.ServiceId), (settings.ClusterId, settings.ServiceId));
    }

    [Fact]
    public void From_InstanceTwoOnTheCommandLine_ShiftsSiloGatewayAndWebPortsAndJoinsThePrimary()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Silo:SiloPort"] = "12000" })
            .AddCommandLine(["--instance", "2"], SiloSettings.SwitchMappings.ToDictionary())
            .Build();

        var settings = SiloSettings.From(configuration);

        Assert.Equal(2, settings.Instance);
        Assert.Equal(11113, settings.SiloPort);
        Assert.Equal(30002, settings.GatewayPort);
        Assert.Equal(11111, settings.PrimaryPort);
        Assert.Equal("http://127.0.0.1:5082", settings.WebUrl);
    }

    [Fact]
    public void From_RedisChoices_ReadsClusteringStorageAndConnectionString()
    {
        var settings = SiloSettings.From(Configuration(
            ("Silo:Clustering", "Redis"), ("Silo:Storage", "redis"), ("Redis:ConnectionString", "10.0.0.5:6380"), ("Orleans:ClusterId", "other")));

        Assert.Equal(ClusteringKind.Redis, settings.Clustering);
        Assert.Equal(StorageKind.Redis, settings.Storage);
        Assert.Equal("10.0.0.5:6380", settings.RedisConnectionString);
        Assert.Equal("other", settings.ClusterId);
    }

    [Theory]
    [InlineData("Silo:Clustering", "consul", "Silo:Clustering must be one of localhost, redis, kubernetes; got 'consul'")]
    [InlineData("Silo:Storage", "1", "Silo:Storage must be one of memory, redis; got '1'")]
    [InlineData("Silo:Instance", "-1", "Silo:Instance (--instance) must be between 0 and 1000")]
    [InlineData("Silo:GatewayPort", "70000", "Silo:GatewayPort must be a port")]
    [InlineData("Silo:SiloPort", "abc", "Silo:SiloPort must be a whole number")]
    [InlineData("Silo:ShutdownTimeoutSeconds", "0", "Silo:ShutdownTimeoutSeconds must be between 1 and 3600; got 0.")]
    [InlineData("Silo:AdvertisedAddress", "silo-1", "Silo:AdvertisedAddress must be an IP address or 'auto'; got 'silo-1'")]
    public void From_BadValue_ThrowsNamingTheKey(string key, string value, string message)
    {
        var error = Assert.Throws<InvalidOperationException>(() => SiloSettings.From(Configuration((key, value))));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void From_AdvertisedAddress_IsLoopbackByDefault_AnIpAsGiven_OrThisHostsFirstNonLoopbackIpv4ForAuto()
    {
        Assert.Equal(System.Net.IPAddress.Loopback, SiloSettings.From(Configuration(("Silo:Clustering", "redis"))).AdvertisedAddress);
        Assert.Equal(System.Net.IPAddress.Parse("172.18.0.7"), SiloSettings.From(Configuration(("Silo:AdvertisedAddress", "172.18.0.7"))).AdvertisedAddress);

        var auto = SiloSettings.From(Configuration(("Silo:AdvertisedAddress", "auto"))).AdvertisedAddress;
        Assert.Equal(System.Net.Sockets.AddressFamily.InterNetwork, auto.AddressFamily);
        Assert.False(System.Net.IPAddress.IsLoopback(auto));
        Assert.Contains(auto, System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(i => i.GetIPProperties().UnicastAddresses).Select(a => a.Address));
    }

    [Fact]
    public void From_Kubernetes_TakesThePodAndTheClusterIdentityFromTheEnvironmentVariables()
    {
        var settings = SiloSettings.From(Configuration([.. Pod(), ("Orleans:ClusterId", "ignored"), ("Silo:ShutdownTimeoutSeconds", "45")]));

        Assert.Equal(ClusteringKind.Kubernetes, settings.Clustering);
        Assert.Equal(new KubernetesPod("silo-7f9c-abcde", System.Net.IPAddress.Parse("10.244.1.17"), "insidellms", "svc", "prod"), settings.Pod);
        Assert.Equal(("prod", "svc"), (settings.ClusterId, settings.ServiceId));
        Assert.Equal("redis:6379", settings.RedisConnectionString);
        Assert.Equal(TimeSpan.FromSeconds(45), settings.ShutdownTimeout);
    }

    [Fact]
    public void From_KubernetesWithoutPodVariables_NamesTheMissingOnes()
    {
        var error = Assert.Throws<InvalidOperationException>(() => SiloSettings.From(Configuration(
            [.. Pod().Where(p => p.Key is not ("POD_IP" or "ORLEANS_CLUSTER_ID"))])));

        Assert.Contains("missing: POD_IP, ORLEANS_CLUSTER_ID.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void From_KubernetesWithoutRedis_SaysMembershipNeedsRedis()
    {
        var error = Assert.Throws<InvalidOperationException>(() => SiloSettings.From(Configuration(
            [.. Pod().Where(p => p.Key != "Redis:ConnectionString")])));

        Assert.Contains("set Redis:ConnectionString", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void From_KubernetesWithAPodIpThatIsNotAnAddress_SaysSo()
    {
        var error = Assert.Throws<InvalidOperationException>(() => SiloSettings.From(Configuration(
            [.. Pod().Where(p => p.Key != "POD_IP"), ("POD_IP", "pod-ip")])));

        Assert.Equal("POD_IP must be an IP address; got 'pod-ip'.", error.Message);
    }

    [Fact]
    public void From_NoShutdownTimeout_IsThirtySeconds()
    {
        Assert.Equal(TimeSpan.FromSeconds(30), SiloSettings.From(Configuration()).ShutdownTimeout);
    }

    /// <summary>What the Deployment's environment gives a silo pod.</summary>
    internal static (string Key, string Value)[] Pod() =>
    [
        ("Silo:Clustering", "kubernetes"), ("Redis:ConnectionString", "redis:6379"), ("POD_NAME", "silo-7f9c-abcde"), ("POD_IP", "10.244.1.17"),
        ("POD_NAMESPACE", "insidellms"), ("ORLEANS_SERVICE_ID", "svc"), ("ORLEANS_CLUSTER_ID", "prod"),
    ];

    private static IConfiguration Configuration(params (string Key, string Value)[] values) => new ConfigurationBuilder()
        .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value)))
        .Build();
}
