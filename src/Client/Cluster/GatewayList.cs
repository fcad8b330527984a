using System.Globalization;
using System.Net;
using InsideLLMs.Distributed.Client.Cli;

namespace InsideLLMs.Distributed.Client.Cluster;

/// <summary>One silo gateway as the user wrote it: a host name or IP address and a port.</summary>
internal sealed record GatewayAddress(string Host, int Port)
{
    public override string ToString() => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}

/// <summary>
/// Where the client looks for silos: <c>--gateway host:port[,host:port]</c>, else the environment variable
/// <see cref="EnvironmentVariable"/>, else the first local silo's gateway.
/// </summary>
internal static class GatewayList
{
    public const string EnvironmentVariable = "INSIDELLMS_GATEWAYS";
    public const string Default = "127.0.0.1:30000";

    /// <summary>The gateways to use: the option's value if given, else the environment's, else <see cref="Default"/>.</summary>
    public static IReadOnlyList<GatewayAddress> Resolve(string? option, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var text = !string.IsNullOrWhiteSpace(option) ? option
            : environment(EnvironmentVariable) is { Length: > 0 } fromEnvironment && !string.IsNullOrWhiteSpace(fromEnvironment) ? fromEnvironment
            : Default;
        return Parse(text);
    }

    /// <exception cref="CliUsageException">An entry that is not host:port with a port in 1-65535.</exception>
    public static IReadOnlyList<GatewayAddress> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var entries = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (entries.Length == 0)
        {
            throw new CliUsageException($"No gateway given: expected host:port[,host:port], e.g. {Default}.");
        }

        return [.. entries.Select(ParseOne)];
    }

    /// <summary>IP addresses as they are; host names through DNS (IPv4 first, as the silos listen on IPv4).</summary>
    public static async Task<IReadOnlyList<IPEndPoint>> ToEndPointsAsync(IEnumerable<GatewayAddress> gateways, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(gateways);
        var endpoints = new List<IPEndPoint>();
        foreach (var gateway in gateways)
        {
            if (IPAddress.TryParse(gateway.Host, out var ip))
            {
                endpoints.Add(new IPEndPoint(ip, gateway.Port));
                continue;
            }

            IPAddress[] addresses;
            try
            {
                addresses = await Dns.GetHostAddressesAsync(gateway.Host, cancellationToken);
            }
            catch (System.Net.Sockets.SocketException e)
            {
                throw new CliFailureException($"The gateway host '{gateway.Host}' does not resolve: {e.Message}", e);
            }

            var chosen = addresses.OrderBy(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 0 : 1).FirstOrDefault()
                ?? throw new CliFailureException($"The gateway host '{gateway.Host}' has no address.");
            endpoints.Add(new IPEndPoint(chosen, gateway.Port));
        }

        return endpoints;
    }

    private static GatewayAddress ParseOne(string entry)
    {
        string host;
        string port;
        if (entry.StartsWith('['))
        {
            var close = entry.IndexOf("]:", StringComparison.Ordinal);
            if (close < 0)
            {
                throw Bad(entry);
            }

            host = entry[1..close];
            port = entry[(close + 2)..];
        }
        else
        {
            var colon = entry.LastIndexOf(':');
            if (colon <= 0 || entry.IndexOf(':', StringComparison.Ordinal) != colon)
            {
                throw Bad(entry);
            }

            host = entry[..colon];
            port = entry[(colon + 1)..];
        }

        return host.Length > 0 && int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number is > 0 and <= 65535
            ? new GatewayAddress(host, number)
            : throw Bad(entry);
    }

    private static CliUsageException Bad(string entry) =>
        new($"Bad gateway '{entry}': expected host:port with a port in 1-65535, e.g. {Default}.");
}
