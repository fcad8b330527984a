using System.Globalization;
using System.Net;
using InsideLLMs.Distributed.Contracts;

namespace InsideLLMs.Distributed.Silo.Extensions;

/// <summary>How members of the cluster find each other.</summary>
public enum ClusteringKind
{
    /// <summary>The first silo is the primary; later silos on this machine join it (no external service).</summary>
    Localhost,

    /// <summary>A membership table in Redis: any silo may die and the others carry on (real failover).</summary>
    Redis,

    /// <summary>
    /// A pod of a Kubernetes Deployment: Redis membership (Kubernetes hosting is not a membership table) plus Orleans'
    /// Kubernetes hosting, which names the silo after its pod, advertises the pod's IP and deletes the pods of silos
    /// the cluster has declared dead. Needs the pod's and the cluster's identity in environment variables.
    /// </summary>
    Kubernetes,
}

/// <summary>Where grain state (runs, stage checkpoints, the registry) lives.</summary>
public enum StorageKind
{
    /// <summary>In the silos' memory: lost with the silo that holds it.</summary>
    Memory,

    /// <summary>In Redis: survives any silo.</summary>
    Redis,
}

/// <summary>
/// The silo's hosting choices, read once from configuration (appsettings, environment, command line). Defaults are the
/// one-command local start: localhost clustering, in-memory storage, the first silo's ports.
/// </summary>
public sealed record SiloSettings
{
    public const int FirstSiloPort = 11111;
    public const int FirstGatewayPort = 30000;
    public const int FirstWebPort = 5080;

    /// <summary>
    /// Orleans' default grace for stopping a host is 30 s; a silo leaving the cluster deactivates its grains and says
    /// goodbye in its membership row, which takes a few seconds on a small cluster. Kubernetes must wait longer than
    /// this (terminationGracePeriodSeconds) or it kills the silo in the middle of leaving.
    /// </summary>
    public const int DefaultShutdownTimeoutSeconds = 30;

    /// <summary>The environment variables Kubernetes clustering reads (set from the downward API and the manifest).</summary>
    public static IReadOnlyList<string> KubernetesVariables { get; } =
        ["POD_NAME", "POD_IP", "POD_NAMESPACE", "ORLEANS_SERVICE_ID", "ORLEANS_CLUSTER_ID"];

    /// <summary>Command-line switches beyond the generic <c>--Section:Key value</c> form.</summary>
    public static IReadOnlyDictionary<string, string> SwitchMappings { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["--instance"] = "Silo:Instance",
    };

    /// <summary>
    /// <c>Silo:Instance</c> (or <c>--instance N</c>): the N-th local silo, which listens on silo port 11111 + N, gateway
    /// 30000 + N and web port 5080 + N, and joins the primary at 11111. Null: the ports come from the other keys.
    /// </summary>
    public int? Instance { get; init; }

    public int SiloPort { get; init; } = FirstSiloPort;

    public int GatewayPort { get; init; } = FirstGatewayPort;

    public int PrimaryPort { get; init; } = FirstSiloPort;

    /// <summary>The web address an instance implies; null keeps <c>Urls</c> as configured.</summary>
    public string? WebUrl { get; init; }

    public ClusteringKind Clustering { get; init; } = ClusteringKind.Localhost;

    public StorageKind Storage { get; init; } = StorageKind.Memory;

    /// <summary>StackExchange.Redis configuration string, used by Redis clustering and Redis storage.</summary>
    public string RedisConnectionString { get; init; } = "127.0.0.1:6379";

    public string ClusterId { get; init; } = ClusterNames.ClusterId;

    public string ServiceId { get; init; } = ClusterNames.ServiceId;

    /// <summary>The pod this silo runs in; set with Kubernetes clustering only.</summary>
    public KubernetesPod? Pod { get; init; }

    /// <summary><c>Silo:ShutdownTimeoutSeconds</c>: the host's <c>HostOptions.ShutdownTimeout</c>.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(DefaultShutdownTimeoutSeconds);

    /// <summary>
    /// The address Redis clustering tells the other silos and the clients (<c>Silo:AdvertisedAddress</c>): loopback by
    /// default (every silo on this machine), an IP address, or <c>auto</c> (this host's first non-loopback IPv4 address:
    /// a container's address on its network). Not loopback: the silo listens on every address of its host.
    /// </summary>
    public IPAddress AdvertisedAddress { get; init; } = IPAddress.Loopback;

    /// <exception cref="InvalidOperationException">A value that names no known choice, or a port out of range.</exception>
    public static SiloSettings From(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var instance = ReadInt(configuration, "Silo:Instance");
        if (instance is < 0 or > 1000)
        {
            throw new InvalidOperationException($"Silo:Instance (--instance) must be between 0 and 1000; got {instance}.");
        }

        var clustering = ReadChoice(configuration, "Silo:Clustering", ClusteringKind.Localhost);
        var pod = clustering == ClusteringKind.Kubernetes ? ReadPod(configuration) : null;
        if (clustering == ClusteringKind.Kubernetes && NonEmpty(configuration["Redis:ConnectionString"]) is null)
        {
            throw new InvalidOperationException(
                "Silo:Clustering=kubernetes keeps the membership table in Redis: set Redis:ConnectionString (the default, 127.0.0.1:6379, is the pod itself).");
        }

        var shutdown = ReadInt(configuration, "Silo:ShutdownTimeoutSeconds") ?? DefaultShutdownTimeoutSeconds;
        if (shutdown is < 1 or > 3600)
        {
            throw new InvalidOperationException($"Silo:ShutdownTimeoutSeconds must be between 1 and 3600; got {shutdown}.");
        }

        var settings = new SiloSettings
        {
            Instance = instance,
            SiloPort = instance is { } n ? FirstSiloPort + n : ReadPort(configuration, "Silo:SiloPort", FirstSiloPort),
            GatewayPort = instance is { } g ? FirstGatewayPort + g : ReadPort(configuration, "Silo:GatewayPort", FirstGatewayPort),
            PrimaryPort = instance is null ? ReadPort(configuration, "Silo:PrimaryPort", FirstSiloPort) : FirstSiloPort,
            WebUrl = instance is { } w ? string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{FirstWebPort + w}") : null,
            Clustering = clustering,
            Storage = ReadChoice(configuration, "Silo:Storage", StorageKind.Memory),
            RedisConnectionString = NonEmpty(configuration["Redis:ConnectionString"]) ?? "127.0.0.1:6379",
            ClusterId = pod?.ClusterId ?? NonEmpty(configuration["Orleans:ClusterId"]) ?? ClusterNames.ClusterId,
            ServiceId = pod?.ServiceId ?? NonEmpty(configuration["Orleans:ServiceId"]) ?? ClusterNames.ServiceId,
            Pod = pod,
            ShutdownTimeout = TimeSpan.FromSeconds(shutdown),
            AdvertisedAddress = ReadAdvertisedAddress(configuration),
        };
        return settings;
    }

    /// <summary>The pod's identity from the variables a Kubernetes manifest sets; all of them, or a message naming those missing.</summary>
    private static KubernetesPod ReadPod(IConfiguration configuration)
    {
        var missing = KubernetesVariables.Where(name => NonEmpty(configuration[name]) is null).ToArray();
        if (missing.Length > 0)
        {
            throw new InvalidOperationException(
                $"Silo:Clustering=kubernetes needs the environment variables {string.Join(", ", KubernetesVariables)}; missing: {string.Join(", ", missing)}. " +
                "Set POD_NAME, POD_IP and POD_NAMESPACE from the downward API (fieldRef metadata.name, status.podIP, metadata.namespace).");
        }

        var ipText = NonEmpty(configuration["POD_IP"])!;
        if (!IPAddress.TryParse(ipText, out var ip))
        {
            throw new InvalidOperationException($"POD_IP must be an IP address; got '{ipText}'.");
        }

        return new KubernetesPod(
            NonEmpty(configuration["POD_NAME"])!, ip, NonEmpty(configuration["POD_NAMESPACE"])!,
            NonEmpty(configuration["ORLEANS_SERVICE_ID"])!, NonEmpty(configuration["ORLEANS_CLUSTER_ID"])!);
    }

    private static IPAddress ReadAdvertisedAddress(IConfiguration configuration)
    {
        var text = NonEmpty(configuration["Silo:AdvertisedAddress"]);
        if (text is null)
        {
            return IPAddress.Loopback;
        }

        if (text.Equals("auto", StringComparison.OrdinalIgnoreCase))
        {
            return System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
                .Where(i => i.OperationalStatus == System.Net.NetworkInformation.OperationalStatus.Up
                    && i.NetworkInterfaceType != System.Net.NetworkInformation.NetworkInterfaceType.Loopback)
                .SelectMany(i => i.GetIPProperties().UnicastAddresses)
                .Select(a => a.Address)
                .FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))
                ?? throw new InvalidOperationException("Silo:AdvertisedAddress=auto found no non-loopback IPv4 address on this host; set the address itself.");
        }

        return IPAddress.TryParse(text, out var address)
            ? address
            : throw new InvalidOperationException($"Silo:AdvertisedAddress must be an IP address or 'auto'; got '{text}'.");
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private static int? ReadInt(IConfiguration configuration, string key) => NonEmpty(configuration[key]) is { } text
        ? int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new InvalidOperationException($"{key} must be a whole number; got '{text}'.")
        : null;

    private static int ReadPort(IConfiguration configuration, string key, int fallback)
    {
        var port = ReadInt(configuration, key) ?? fallback;
        return port is > 0 and <= 65535 ? port : throw new InvalidOperationException($"{key} must be a port (1-65535); got {port}.");
    }

    private static T ReadChoice<T>(IConfiguration configuration, string key, T fallback)
        where T : struct, Enum
    {
        var text = NonEmpty(configuration[key]);
        if (text is null)
        {
            return fallback;
        }

        return Enum.TryParse<T>(text, ignoreCase: true, out var value) && Enum.IsDefined(value) && !char.IsDigit(text[0])
            ? value
            : throw new InvalidOperationException(
                $"{key} must be one of {string.Join(", ", Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}; got '{text}'.");
    }
}

/// <summary>The pod a silo runs in and the cluster it belongs to, as the Kubernetes manifest passes them in.</summary>
public sealed record KubernetesPod(string Name, IPAddress Ip, string Namespace, string ServiceId, string ClusterId);
