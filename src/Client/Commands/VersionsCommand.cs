using System.CommandLine;
using System.Globalization;
using InsideLLMs.Distributed.Client.Cli;
using InsideLLMs.Distributed.Client.Cluster;
using InsideLLMs.Distributed.Contracts.Inference;
using Spectre.Console;

namespace InsideLLMs.Distributed.Client.Commands;

/// <summary><c>versions</c>: the published model versions with their metrics; <c>versions publish NAME --run ID</c> publishes one.</summary>
internal static class VersionsCommand
{
    public static Command Create()
    {
        var gateway = ClusterVerbOptions.CreateGateway();
        var command = new Command("versions", "List the published model versions (run, step, losses, stages); 'versions publish' publishes one.") { gateway };
        command.Subcommands.Add(Publish());
        command.SetCliAction(async (cli, cancellationToken) =>
        {
            await using var connection = await ClusterVerbOptions.ConnectAsync(cli, gateway, cancellationToken);
            var versions = await connection.Client.GetGrain<IModelCatalogGrain>(InferenceNames.CatalogKey).ListAsync();
            if (cli.Json)
            {
                cli.WriteJson(versions);
                return ExitCodes.Success;
            }

            if (versions.Count == 0)
            {
                cli.Console.MarkupLine("No versions yet: publish one with 'versions publish base --run ID'.");
                return ExitCodes.Success;
            }

            var table = new Table().AddColumns("version", "run", "step", "loss", "validation loss", "parameters", "stages", "published");
            foreach (var v in versions)
            {
                table.AddRow(Row(v));
            }

            cli.Console.Write(table);
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Publish()
    {
        var gateway = ClusterVerbOptions.CreateGateway();
        var name = new Argument<string>("name") { Description = "The version's name, e.g. base." };
        var run = ClusterVerbOptions.CreateRun();
        var stages = new Option<int?>("--stages") { Description = "Inference pipeline stages (default 2; 1 for a one-layer model)." };
        var ppoRun = new Option<string?>("--ppo-run") { Description = "Publish this PPO run's policy instead of a training run's weights.", HelpName = "id" };
        var command = new Command("publish", "Publish a run's current weights (or, with --ppo-run, a PPO run's policy) as a named version.") { gateway, name, run, stages, ppoRun };
        command.SetCliAction(async (cli, cancellationToken) =>
        {
            var version = cli.GetValue(name);
            if (!InferenceNames.IsValidVersionName(version))
            {
                throw new CliUsageException($"'{version}' is not a version name: use 1 to 64 letters, digits, '.', '-' or '_'.");
            }

            var policyOf = cli.GetValue(ppoRun);
            var id = policyOf is null ? ClusterVerbOptions.RunId(cli, run) : null;
            await using var connection = await ClusterVerbOptions.ConnectAsync(cli, gateway, cancellationToken);
            ModelVersionInfo info;
            try
            {
                var grain = connection.Client.GetGrain<IModelVersionGrain>(version!);
                info = policyOf is null ? await grain.PublishAsync(id!, cli.GetValue(stages)) : await grain.PublishPolicyAsync(policyOf, cli.GetValue(stages));
            }
            catch (ArgumentException e)
            {
                throw new CliUsageException(e.Message, e);
            }
            catch (InvalidOperationException e)
            {
                throw new CliFailureException(e.Message, e);
            }

            if (cli.Json)
            {
                cli.WriteJson(info);
            }
            else
            {
                cli.Console.Write(new Table().AddColumns("version", "run", "step", "loss", "validation loss", "parameters", "stages", "published").AddRow(Row(info)));
            }

            return ExitCodes.Success;
        });
        return command;
    }

    private static string[] Row(ModelVersionInfo v) =>
    [
        Markup.Escape(v.Name), Markup.Escape(v.RunId), v.Step.ToString("N0", CultureInfo.InvariantCulture),
        v.LastLoss?.ToString("F4", CultureInfo.InvariantCulture) ?? "-", v.ValidationLoss?.ToString("F4", CultureInfo.InvariantCulture) ?? "-",
        v.ParameterCount.ToString("N0", CultureInfo.InvariantCulture), v.Stages.ToString(CultureInfo.InvariantCulture),
        v.PublishedAt.ToString("u", CultureInfo.InvariantCulture),
    ];
}
