using System.Globalization;
using InsideLLMs.Distributed.Contracts;

namespace InsideLLMs.Distributed.Silo.Extensions;

/// <summary>How members of the cluster find each other.</summary>
public enum ClusteringKind
{
    /// <summary>The first silo is the primary; later silos on this machine join it (no external service).</summary>
    Localhost,

    /// <summary>A membership table in Redis: any silo may die and the others carry on (real failover).</summary>
    Redis,
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

    /// <exception cref="InvalidOperationException">A value that names no known choice, or a port out of range.</exception>
    public static SiloSettings From(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var instance = ReadInt(configuration, "Silo:Instance");
        if (instance is < 0 or > 1000)
        {
            throw new InvalidOperationException($"Silo:Instance (--instance) must be between 0 and 1000; got {instance}.");
        }

        var settings = new SiloSettings
        {
            Instance = instance,
            SiloPort = instance is { } n ? FirstSiloPort + n : ReadPort(configuration, "Silo:SiloPort", FirstSiloPort),
            GatewayPort = instance is { } g ? FirstGatewayPort + g : ReadPort(configuration, "Silo:GatewayPort", FirstGatewayPort),
            PrimaryPort = instance is null ? ReadPort(configuration, "Silo:PrimaryPort", FirstSiloPort) : FirstSiloPort,
            WebUrl = instance is { } w ? string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{FirstWebPort + w}") : null,
            Clustering = ReadChoice(configuration, "Silo:Clustering", ClusteringKind.Localhost),
            Storage = ReadChoice(configuration, "Silo:Storage", StorageKind.Memory),
            RedisConnectionString = NonEmpty(configuration["Redis:ConnectionString"]) ?? "127.0.0.1:6379",
            ClusterId = NonEmpty(configuration["Orleans:ClusterId"]) ?? ClusterNames.ClusterId,
            ServiceId = NonEmpty(configuration["Orleans:ServiceId"]) ?? ClusterNames.ServiceId,
        };
        return settings;
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
