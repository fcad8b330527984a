using System.CommandLine;
using InsideLLMs.Distributed.Client.Cli;

namespace InsideLLMs.Distributed.Client.Cluster;

/// <summary>The options every cluster verb shares: <c>--gateway</c> and <c>--run</c>.</summary>
internal static class ClusterVerbOptions
{
    public const string DefaultRun = "default";

    public static Option<string?> CreateGateway() => new("--gateway")
    {
        Description = $"Silo gateways, host:port[,host:port] (default: ${GatewayList.EnvironmentVariable}, else {GatewayList.Default}).",
        HelpName = "host:port",
    };

    public static Option<string> CreateRun() => new("--run")
    {
        Description = "The run's id.",
        DefaultValueFactory = _ => DefaultRun,
        HelpName = "id",
    };

    /// <summary>Connects through the verb's gateways; bad gateway text is a usage error, silence a failure.</summary>
    public static Task<ClusterConnection> ConnectAsync(CliContext cli, Option<string?> gateway, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cli);
        return ClusterConnection.ConnectAsync(GatewayList.Resolve(cli.GetValue(gateway)), cancellationToken: cancellationToken);
    }

    public static string RunId(CliContext cli, Option<string> run)
    {
        ArgumentNullException.ThrowIfNull(cli);
        var id = cli.GetValue(run);
        return string.IsNullOrWhiteSpace(id) ? throw new CliUsageException("--run needs a non-empty id.") : id.Trim();
    }
}
