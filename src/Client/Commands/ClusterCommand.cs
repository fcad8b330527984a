using System.CommandLine;
using System.Globalization;
using InsideLLMs.Distributed.Client.Cli;
using InsideLLMs.Distributed.Client.Cluster;
using Orleans.Runtime;
using Spectre.Console;

namespace InsideLLMs.Distributed.Client.Commands;

/// <summary><c>cluster</c>: the silos with their status and address, and the grains each one holds.</summary>
internal static class ClusterCommand
{
    /// <summary>Application grains are listed one by one; Orleans' own only as counts.</summary>
    private const string ApplicationNamespace = "InsideLLMs.";

    public static Command Create()
    {
        var gateway = ClusterVerbOptions.CreateGateway();
        var command = new Command("cluster", "List the silos (status, address) and the grains each one holds.") { gateway };
        command.SetCliAction(async (cli, cancellationToken) =>
        {
            await using var connection = await ClusterVerbOptions.ConnectAsync(cli, gateway, cancellationToken);
            var silos = await ReadAsync(connection.Client);
            if (cli.Json)
            {
                cli.WriteJson(new ClusterReport(silos));
                return ExitCodes.Success;
            }

            var table = new Table().AddColumn("Silo").AddColumn("Status").AddColumn("Gateway").AddColumn("Grains");
            foreach (var silo in silos)
            {
                var grains = string.Join("\n", silo.Grains.Select(g => string.Create(CultureInfo.InvariantCulture, $"{g.Activations} x {g.GrainType}"))
                    .Concat(silo.TrainingGrains.Select(id => $"  {id}")));
                table.AddRow(
                    Markup.Escape($"{silo.Name}\n{silo.Address}"),
                    Markup.Escape(silo.Status),
                    silo.GatewayPort.ToString(CultureInfo.InvariantCulture),
                    Markup.Escape(grains.Length == 0 ? "-" : grains));
            }

            cli.Console.Write(table);
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>Membership from the management grain; per active silo, activations by type and the application's grain ids.</summary>
    private static async Task<IReadOnlyList<SiloReport>> ReadAsync(IClusterClient client)
    {
        var management = client.GetGrain<IManagementGrain>(0);
        var hosts = await management.GetDetailedHosts(onlyActive: false);
        var active = hosts.Where(h => h.Status == SiloStatus.Active).Select(h => h.SiloAddress).ToArray();
        var counts = active.Length == 0 ? [] : await management.GetSimpleGrainStatistics(active);
        var detailed = active.Length == 0 ? [] : await management.GetDetailedGrainStatistics(null, active);
        return [.. hosts
            .OrderBy(h => h.SiloAddress.Endpoint.Port)
            .ThenBy(h => h.SiloAddress.Generation)
            .Select(h => new SiloReport(
                h.SiloAddress.ToString(),
                h.SiloName,
                h.Status.ToString(),
                h.ProxyPort,
                [.. counts.Where(c => c.SiloAddress.Equals(h.SiloAddress))
                    .GroupBy(c => ShortTypeName(c.GrainType))
                    .Select(g => new GrainCountReport(g.Key, g.Sum(c => c.ActivationCount)))
                    .OrderBy(c => c.GrainType, StringComparer.Ordinal)],
                [.. detailed.Where(d => d.SiloAddress.Equals(h.SiloAddress) && d.GrainType.StartsWith(ApplicationNamespace, StringComparison.Ordinal))
                    .Select(d => d.GrainId.ToString())
                    .Order(StringComparer.Ordinal)]))];
    }

    /// <summary>"Namespace.TrainingRunGrain,Assembly" becomes "TrainingRunGrain".</summary>
    internal static string ShortTypeName(string grainType)
    {
        var name = grainType.Split(',')[0];
        var dot = name.LastIndexOf('.');
        return dot < 0 ? name : name[(dot + 1)..];
    }
}

internal sealed record ClusterReport(IReadOnlyList<SiloReport> Silos);

internal sealed record SiloReport(
    string Address, string Name, string Status, int GatewayPort, IReadOnlyList<GrainCountReport> Grains, IReadOnlyList<string> TrainingGrains);

internal sealed record GrainCountReport(string GrainType, int Activations);
