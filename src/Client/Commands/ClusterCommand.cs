using System.CommandLine;
using System.Globalization;
using InsideLLMs.Distributed.Client.Cli;
using InsideLLMs.Distributed.Client.Cluster;
using InsideLLMs.Distributed.Contracts.Cluster;
using Spectre.Console;

namespace InsideLLMs.Distributed.Client.Commands;

/// <summary><c>cluster</c>: the silos with their status and address, and the grains each one holds.</summary>
internal static class ClusterCommand
{
    public static Command Create()
    {
        var gateway = ClusterVerbOptions.CreateGateway();
        var command = new Command("cluster", "List the silos (status, address) and the grains each one holds.") { gateway };
        command.SetCliAction(async (cli, cancellationToken) =>
        {
            await using var connection = await ClusterVerbOptions.ConnectAsync(cli, gateway, cancellationToken);
            var view = await ClusterView.ReadAsync(connection.Client);
            if (cli.Json)
            {
                cli.WriteJson(view);
                return ExitCodes.Success;
            }

            var table = new Table().AddColumn("Silo").AddColumn("Status").AddColumn("Gateway").AddColumn("Grains");
            foreach (var silo in view.Silos)
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
}
